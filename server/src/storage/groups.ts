import type { Knex } from 'knex';

export async function groupExists(db: Knex, groupId: string): Promise<boolean> {
  return (await db('groups').where({ group_id: groupId }).first('group_id')) !== undefined;
}

export async function membersOfGroups(db: Knex, groupIds: string[]): Promise<string[]> {
  if (groupIds.length === 0) return [];
  const rows = await db('group_members as g')
    .join('users as u', 'u.user_id', 'g.user_id')
    .whereIn('g.group_id', groupIds)
    .where('u.deactivated', false)
    .where('u.suspended', false)
    .distinct('g.user_id');
  return rows.map((r: { user_id: string }) => r.user_id);
}

export async function upsertGroup(db: Knex, groupId: string, displayName: string | null, source = 'local'): Promise<void> {
  await db('groups').insert({ group_id: groupId, display_name: displayName, source }).onConflict('group_id').merge(['display_name']);
}

export async function setGroupMembers(trx: Knex.Transaction, groupId: string, userIds: string[]): Promise<void> {
  await trx('group_members').where({ group_id: groupId }).delete();
  for (let i = 0; i < userIds.length; i += 1000) {
    const chunk = userIds.slice(i, i + 1000).map((user_id) => ({ group_id: groupId, user_id }));
    if (chunk.length > 0) await trx('group_members').insert(chunk).onConflict(['group_id', 'user_id']).ignore();
  }
}

export async function listGroups(db: Knex): Promise<Array<{ group_id: string; display_name: string | null; members: number }>> {
  const rows = await db('groups as g')
    .leftJoin('group_members as m', 'm.group_id', 'g.group_id')
    .groupBy('g.group_id', 'g.display_name')
    .orderBy('g.group_id')
    .select('g.group_id', 'g.display_name')
    .count<Array<{ group_id: string; display_name: string | null; members: string | number }>>('m.user_id as members');
  return rows.map((r) => ({ group_id: r.group_id, display_name: r.display_name, members: Number(r.members) }));
}
