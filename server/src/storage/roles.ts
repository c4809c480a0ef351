import type { Knex } from 'knex';

export type Role = 'alert_sender' | 'exercise_coordinator' | 'dpo';

export async function hasRole(db: Knex, userId: string, role: Role): Promise<boolean> {
  return (await db('user_roles').where({ user_id: userId, role }).first('role')) !== undefined;
}

export async function grantRole(db: Knex, userId: string, role: Role): Promise<void> {
  await db('user_roles').insert({ user_id: userId, role }).onConflict(['user_id', 'role']).ignore();
}

export async function revokeRole(db: Knex, userId: string, role: Role): Promise<void> {
  await db('user_roles').where({ user_id: userId, role }).delete();
}
