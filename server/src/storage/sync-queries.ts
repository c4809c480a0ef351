import type { Knex } from 'knex';
import { fromRow, type EventRow, type StoredEvent } from './events.ts';
import type { Membership, MembershipRow } from './memberships.ts';

/**
 * Queries that an incremental /sync runs on every wake-up, folded into as few round trips as
 * possible: a long-polling client asks again after every event of its rooms, so the number of
 * queries per sync matters more than anything else on that path.
 */

export interface RoomWithChanges extends MembershipRow {
  /** Joined rooms only: events in (after, upTo]. */
  has_events: boolean;
  /** Joined rooms only: receipts in (after, upTo]. */
  has_receipts: boolean;
  /** Joined rooms with events in the window: the latest `recentLimit` of them, newest first. */
  recent: StoredEvent[] | undefined;
}


/**
 * One query for a sync: the user's rooms with the given memberships (forgotten ones left out),
 * whether each joined room has events or receipts in (after, upTo], and its latest events in the
 * window; and whether the user's account data changed.
 * after = -1 for everything up to upTo.
 */
export async function roomsOfUserWithChanges(
  db: Knex,
  userId: string,
  memberships: Membership[],
  after: number,
  upTo: number,
  recentLimit: number,
): Promise<{ rooms: RoomWithChanges[]; accountDataChanged: boolean }> {
  if (memberships.length === 0) throw new Error('memberships must not be empty');
  const result = await db.raw(
    `SELECT a.changed AS account_data_changed, m.room_id, m.user_id, m.membership, m.event_id, m.stream_pos, m.forgotten,
       x.has_events, x.has_receipts,
       CASE WHEN x.has_events THEN (
         SELECT json_agg(t ORDER BY t.stream_pos DESC) FROM (
           SELECT e.stream_pos, e.json, e.redacted_by, e.sender_device, e.txn_id FROM events e
           WHERE e.room_id = m.room_id AND e.stream_pos > ? AND e.stream_pos <= ?
           ORDER BY e.stream_pos DESC LIMIT ?) t)
       END AS recent
     FROM (SELECT EXISTS (
             SELECT 1 FROM account_data d WHERE d.user_id = ? AND d.stream_pos > ? AND d.stream_pos <= ?) AS changed) a
     LEFT JOIN memberships m ON m.user_id = ? AND NOT m.forgotten AND m.membership IN (${memberships.map(() => '?').join(', ')})
     LEFT JOIN LATERAL (SELECT
         (m.membership = 'join' AND EXISTS (
           SELECT 1 FROM events e WHERE e.room_id = m.room_id AND e.stream_pos > ? AND e.stream_pos <= ?)) AS has_events,
         (m.membership = 'join' AND EXISTS (
           SELECT 1 FROM receipts r WHERE r.room_id = m.room_id AND r.stream_pos > ? AND r.stream_pos <= ?)) AS has_receipts
       ) x ON true`,
    [after, upTo, recentLimit, userId, after, upTo, userId, ...memberships, after, upTo, after, upTo],
  );
  type Row = Omit<RoomWithChanges, 'recent' | 'room_id'> & {
    account_data_changed: boolean;
    room_id: string | null;
    recent: EventRow[] | null;
  };
  const rows = result.rows as Row[];
  const rooms: RoomWithChanges[] = [];
  for (const r of rows) {
    if (r.room_id === null) continue;
    rooms.push({
      room_id: r.room_id,
      user_id: r.user_id,
      membership: r.membership,
      event_id: r.event_id,
      stream_pos: Number(r.stream_pos),
      forgotten: r.forgotten,
      has_events: r.has_events,
      has_receipts: r.has_receipts,
      recent: r.recent === null ? undefined : r.recent.map(fromRow),
    });
  }
  return { rooms, accountDataChanged: rows[0]?.account_data_changed ?? false };
}
