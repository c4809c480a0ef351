import type { Knex } from 'knex';
import { nextStreamPos } from './stream.ts';

/** Records that a user's devices or keys changed; returns the stream position taken. */
export async function recordDeviceListChange(trx: Knex.Transaction, userIds: string[]): Promise<number> {
  const pos = await nextStreamPos(trx);
  const unique = [...new Set(userIds)];
  if (unique.length > 0) await trx('device_list_changes').insert(unique.map((user_id) => ({ user_id, stream_pos: pos }))).onConflict(['user_id', 'stream_pos']).ignore();
  return pos;
}

/** Rooms a user is joined to (a device-list change wakes the syncs of their members). */
export async function joinedRoomsOf(db: Knex, userId: string): Promise<string[]> {
  const rows = await db('memberships').where({ user_id: userId, membership: 'join' }).select('room_id');
  return rows.map((r: { room_id: string }) => r.room_id);
}

/** Whether the two users share a joined room (or are the same user). */
export async function shareARoom(db: Knex, a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  const row = await db('memberships as x')
    .join('memberships as y', 'x.room_id', 'y.room_id')
    .where({ 'x.user_id': a, 'x.membership': 'join', 'y.user_id': b, 'y.membership': 'join' })
    .first(db.raw('1 AS one'));
  return row !== undefined;
}

/**
 * The device-list changes a user must hear of in (after, upTo] (the spec's `device_lists`):
 * - changed: users sharing a room with the user (and the user) whose devices or keys changed,
 *   users who joined one of the user's rooms, and the members of rooms the user joined;
 * - left: users who left a room shared with the user (or whose room the user left) and share
 *   no room with the user any more.
 */
export async function deviceListDelta(db: Knex, userId: string, after: number, upTo: number): Promise<{ changed: string[]; left: string[] }> {
  const result = await db.raw(
    `WITH mine AS (SELECT room_id, membership, stream_pos FROM memberships WHERE user_id = ?),
     shared AS (
       SELECT DISTINCT o.user_id FROM mine JOIN memberships o ON o.room_id = mine.room_id
       WHERE mine.membership = 'join' AND o.membership = 'join'),
     changed AS (
       SELECT d.user_id FROM device_list_changes d
       WHERE d.stream_pos > ? AND d.stream_pos <= ? AND (d.user_id = ? OR d.user_id IN (SELECT user_id FROM shared))
       UNION
       SELECT o.user_id FROM mine JOIN memberships o ON o.room_id = mine.room_id
       WHERE mine.membership = 'join' AND o.membership = 'join'
         AND (o.stream_pos > ? AND o.stream_pos <= ? OR mine.stream_pos > ? AND mine.stream_pos <= ?)),
     gone AS (
       SELECT o.user_id FROM mine JOIN memberships o ON o.room_id = mine.room_id
       WHERE (o.membership IN ('leave', 'ban') AND o.stream_pos > ? AND o.stream_pos <= ? AND mine.membership = 'join')
          OR (mine.membership IN ('leave', 'ban') AND mine.stream_pos > ? AND mine.stream_pos <= ?))
     SELECT 'changed' AS kind, user_id FROM changed
     UNION
     SELECT 'left' AS kind, user_id FROM gone WHERE user_id <> ? AND user_id NOT IN (SELECT user_id FROM shared)`,
    [userId, after, upTo, userId, after, upTo, after, upTo, after, upTo, after, upTo, userId],
  );
  const changed: string[] = [];
  const left: string[] = [];
  for (const r of result.rows as Array<{ kind: string; user_id: string }>) (r.kind === 'changed' ? changed : left).push(r.user_id);
  return { changed: changed.sort(), left: left.sort() };
}
