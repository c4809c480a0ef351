import type { Knex } from 'knex';

export interface UserRow {
  user_id: string;
  localpart: string;
  password_hash: string | null;
  admin: boolean;
  deactivated: boolean;
  /** Disabled in the directory: no login, no alerts, memberships kept. */
  suspended: boolean;
  displayname: string | null;
  avatar_url: string | null;
  origin: string;
  created_ts: number;
}

export async function insertUser(db: Knex, row: Omit<UserRow, 'deactivated' | 'suspended' | 'origin'> & { origin?: string }): Promise<boolean> {
  const inserted = await db('users').insert(row).onConflict('user_id').ignore().returning('user_id');
  return inserted.length > 0;
}

export async function findUser(db: Knex, userId: string): Promise<UserRow | undefined> {
  return db('users').where({ user_id: userId }).first();
}

export async function listUsers(db: Knex): Promise<UserRow[]> {
  return db('users').orderBy('user_id');
}

export async function setPasswordHash(db: Knex, userId: string, hash: string | null): Promise<void> {
  await db('users').where({ user_id: userId }).update({ password_hash: hash });
}

export async function markDeactivated(db: Knex, userId: string): Promise<void> {
  await db('users').where({ user_id: userId }).update({ deactivated: true, password_hash: null });
}

export async function setProfileFields(
  db: Knex,
  userId: string,
  fields: { displayname?: string | null; avatar_url?: string | null },
): Promise<void> {
  await db('users').where({ user_id: userId }).update(fields);
}

export async function searchUsers(db: Knex, term: string, limit: number): Promise<UserRow[]> {
  const like = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return db('users')
    .where('deactivated', false)
    .andWhere((q) => q.whereILike('user_id', like).orWhereILike('displayname', like))
    .orderBy('user_id')
    .limit(limit);
}

export async function findUsers(db: Knex, userIds: string[]): Promise<Map<string, UserRow>> {
  const out = new Map<string, UserRow>();
  for (let i = 0; i < userIds.length; i += 5000) {
    const rows: UserRow[] = await db('users').whereIn('user_id', userIds.slice(i, i + 5000));
    for (const r of rows) out.set(r.user_id, r);
  }
  return out;
}
