import type { Knex } from 'knex';

// Reads for the console's audience picker: who and what an alert sender may name, matched on
// a few letters. `like` is an escaped ILIKE pattern (see likePattern).

/** An ILIKE pattern matching `q` anywhere, its own % _ and \ taken literally. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export async function searchUsers(db: Knex, like: string, exclude: string[], limit: number): Promise<Array<{ user_id: string; displayname: string | null }>> {
  return db('users')
    .where({ deactivated: false, suspended: false })
    .whereNotIn('user_id', exclude)
    .where((b) => b.whereILike('localpart', like).orWhereILike('displayname', like))
    .orderBy('localpart')
    .limit(limit)
    .select('user_id', 'displayname');
}

export async function searchGroups(db: Knex, like: string, limit: number): Promise<Array<{ group_id: string; display_name: string | null; members: number }>> {
  const rows = await db('groups as g')
    .where((b) => b.whereILike('g.group_id', like).orWhereILike('g.display_name', like))
    .leftJoin('group_members as m', 'm.group_id', 'g.group_id')
    .groupBy('g.group_id', 'g.display_name')
    .orderBy('g.group_id')
    .limit(limit)
    .select('g.group_id', 'g.display_name')
    .count<Array<{ group_id: string; display_name: string | null; members: string | number }>>('m.user_id as members');
  return rows.map((r) => ({ group_id: r.group_id, display_name: r.display_name, members: Number(r.members) }));
}

/**
 * Rooms the user is joined to (an alert may only name those), with their current name and
 * joined count, matched on the name or the room id.
 */
export async function searchJoinedRooms(db: Knex, userId: string, like: string, limit: number): Promise<Array<{ room_id: string; name: string | null; members: number }>> {
  const rows: Array<{ room_id: string; name: string | null; members: string | number }> = await db('memberships as mine')
    .where({ 'mine.user_id': userId, 'mine.membership': 'join' })
    .leftJoin('current_state as cs', (j) => j.on('cs.room_id', 'mine.room_id').andOnVal('cs.type', 'm.room.name').andOnVal('cs.state_key', ''))
    .leftJoin('events as e', 'e.event_id', 'cs.event_id')
    .where((b) => b.whereILike('mine.room_id', like).orWhereRaw("(e.json->'content'->>'name') ILIKE ?", [like]))
    .orderBy('mine.room_id')
    .limit(limit)
    .select(
      'mine.room_id',
      db.raw("e.json->'content'->>'name' as name"),
      db('memberships as all').whereRaw('"all".room_id = mine.room_id').where('all.membership', 'join').count('*').as('members'),
    );
  return rows.map((r) => ({ room_id: r.room_id, name: r.name, members: Number(r.members) }));
}
