import type { Knex } from 'knex';
import { fromRow, NOTIFYING_TYPES, type EventRow, type StoredEvent } from './events.ts';
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
  /**
   * Joined rooms with events or receipts in the window: notifying events from others after the
   * user's read receipt (or after joining), capped at 999. Undefined for the other rooms.
   */
  unread: number | undefined;
  /** Joined rooms with events in the window: the latest `recentLimit` of them, newest first. */
  recent: StoredEvent[] | undefined;
}

const READ_RECEIPTS = `rc.receipt_type IN ('m.read', 'm.read.private')`;

/**
 * One query for a sync: the user's rooms with the given memberships (forgotten ones left out),
 * whether each joined room has events or receipts in (after, upTo], its unread count when it
 * does, and its latest events in the window; and whether the user's account data changed.
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
  const types = NOTIFYING_TYPES.map(() => '?').join(', ');
  const result = await db.raw(
    `SELECT a.changed AS account_data_changed, m.room_id, m.user_id, m.membership, m.event_id, m.stream_pos, m.forgotten,
       x.has_events, x.has_receipts,
       CASE WHEN x.has_events OR x.has_receipts THEN (
         SELECT count(*) FROM (
           SELECT 1 FROM events e
           WHERE e.room_id = m.room_id
             AND e.stream_pos > COALESCE((
               SELECT max(rc.event_stream_pos) FROM receipts rc
               WHERE rc.room_id = m.room_id AND rc.user_id = m.user_id AND ${READ_RECEIPTS}), m.stream_pos)
             AND e.sender <> m.user_id AND e.type IN (${types}) AND e.redacted_by IS NULL
           LIMIT 999) c)
       END AS unread,
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
    [...NOTIFYING_TYPES, after, upTo, recentLimit, userId, after, upTo, userId, ...memberships, after, upTo, after, upTo],
  );
  type Row = Omit<RoomWithChanges, 'unread' | 'recent' | 'room_id'> & {
    account_data_changed: boolean;
    room_id: string | null;
    unread: string | number | null;
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
      unread: r.unread === null ? undefined : Number(r.unread),
      recent: r.recent === null ? undefined : r.recent.map(fromRow),
    });
  }
  return { rooms, accountDataChanged: rows[0]?.account_data_changed ?? false };
}

/**
 * Per room, the number of notifying events from others after the user's read receipt
 * (m.read or m.read.private), or after `fallbackAfter[room]` when there is none; capped at 999.
 */
export async function unreadCounts(db: Knex, userId: string, fallbackAfter: Map<string, number>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const entries = [...fallbackAfter.entries()];
  if (entries.length === 0) return out;
  const result = await db.raw(
    `SELECT r.room_id, (
       SELECT count(*) FROM (
         SELECT 1 FROM events e
         WHERE e.room_id = r.room_id
           AND e.stream_pos > COALESCE((
             SELECT max(rc.event_stream_pos) FROM receipts rc
             WHERE rc.room_id = r.room_id AND rc.user_id = ? AND ${READ_RECEIPTS}), r.after)
           AND e.sender <> ? AND e.type IN (${NOTIFYING_TYPES.map(() => '?').join(', ')}) AND e.redacted_by IS NULL
         LIMIT 999) c) AS count
     FROM (VALUES ${entries.map(() => '(?::text, ?::bigint)').join(', ')}) AS r(room_id, after)`,
    [userId, userId, ...NOTIFYING_TYPES, ...entries.flat()],
  );
  for (const r of result.rows as Array<{ room_id: string; count: string | number }>) out.set(r.room_id, Number(r.count));
  return out;
}
