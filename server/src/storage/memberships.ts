import type { Knex } from 'knex';

export type Membership = 'join' | 'invite' | 'leave' | 'ban' | 'knock';

export interface MembershipRow {
  room_id: string;
  user_id: string;
  membership: Membership;
  event_id: string;
  stream_pos: number;
  forgotten: boolean;
}

export async function upsertMembership(trx: Knex.Transaction, row: Omit<MembershipRow, 'forgotten'>): Promise<void> {
  await trx('memberships')
    .insert({ ...row, forgotten: false })
    .onConflict(['room_id', 'user_id'])
    .merge(['membership', 'event_id', 'stream_pos', 'forgotten']);
}

export async function membershipOf(db: Knex, roomId: string, userId: string): Promise<MembershipRow | undefined> {
  return db('memberships').where({ room_id: roomId, user_id: userId }).first();
}

/** Rooms of a user with the given memberships (forgotten rooms left out). */
export async function roomsOfUser(db: Knex, userId: string, memberships: Membership[]): Promise<MembershipRow[]> {
  return db('memberships').where({ user_id: userId, forgotten: false }).whereIn('membership', memberships);
}

/** Membership changes of a user in (after, upTo]. */
export async function membershipChangesOfUser(db: Knex, userId: string, after: number, upTo: number): Promise<MembershipRow[]> {
  return db('memberships').where({ user_id: userId }).where('stream_pos', '>', after).where('stream_pos', '<=', upTo);
}

export async function membersOfRoom(db: Knex, roomId: string, memberships: Membership[]): Promise<MembershipRow[]> {
  return db('memberships').where({ room_id: roomId }).whereIn('membership', memberships).orderBy('user_id');
}

export async function setForgotten(db: Knex, roomId: string, userId: string): Promise<void> {
  await db('memberships').where({ room_id: roomId, user_id: userId }).update({ forgotten: true });
}

/** Users who share at least one joined room with userId (for presence, device lists). */
export async function joinedRoomCounts(db: Knex, roomIds: string[]): Promise<Map<string, { joined: number; invited: number }>> {
  const out = new Map<string, { joined: number; invited: number }>();
  if (roomIds.length === 0) return out;
  const rows = await db('memberships')
    .whereIn('room_id', roomIds)
    .whereIn('membership', ['join', 'invite'])
    .groupBy('room_id', 'membership')
    .select('room_id', 'membership')
    .count<{ room_id: string; membership: string; count: string | number }[]>('* as count');
  for (const r of rows) {
    const entry = out.get(r.room_id) ?? { joined: 0, invited: 0 };
    if (r.membership === 'join') entry.joined = Number(r.count);
    else entry.invited = Number(r.count);
    out.set(r.room_id, entry);
  }
  return out;
}

/** Up to `max` members (joined or invited first) of each room other than userId, by user id. */
export async function heroesOf(db: Knex, roomIds: string[], userId: string, max: number): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (roomIds.length === 0) return out;
  const rows = await db
    .select('room_id', 'user_id')
    .from(
      db('memberships')
        .whereIn('room_id', roomIds)
        .whereNot('user_id', userId)
        .whereIn('membership', ['join', 'invite'])
        .select('room_id', 'user_id', db.raw('row_number() OVER (PARTITION BY room_id ORDER BY user_id) AS n'))
        .as('m'),
    )
    .where('n', '<=', max)
    .orderBy(['room_id', 'user_id']);
  for (const r of rows as Array<{ room_id: string; user_id: string }>) out.set(r.room_id, [...(out.get(r.room_id) ?? []), r.user_id]);
  return out;
}

/** Among `candidates`, the users who share a joined room with `userId` (presence in sync). */
export async function usersSharingRoomWith(db: Knex, userId: string, candidates: string[]): Promise<Set<string>> {
  if (candidates.length === 0) return new Set();
  const rows = await db('memberships as mine')
    .join('memberships as other', 'other.room_id', 'mine.room_id')
    .where({ 'mine.user_id': userId, 'mine.membership': 'join', 'other.membership': 'join' })
    .whereIn('other.user_id', candidates)
    .distinct('other.user_id');
  return new Set(rows.map((r: { user_id: string }) => r.user_id));
}
