import type { Knex } from 'knex';
import { E2EE_OVERVIEW_COLUMNS, e2eeOverviewParams, e2eeOverviewFromRow, type E2eeOverview } from './e2ee-sync.ts';
import { fromRow, type EventRow, type StoredEvent } from './events.ts';
import type { Membership, MembershipRow } from './memberships.ts';
import { preparedRaw } from './prepared.ts';
import { COUNT_COLUMNS, PUSH_CURSOR_FROM, READ_POS_LATERAL, type RoomCounts } from './push.ts';

/**
 * Queries that an incremental /sync runs on every wake-up, folded into as few round trips as
 * possible: a long-polling client asks again after every event of its rooms, so the number of
 * queries per sync matters more than anything else on that path.
 */

/** Events of others evaluated at sync time, per room, when the push worker lags (as PushService.counts). */
const MAX_TAIL_EVENTS = 200;

export interface RoomWithChanges extends MembershipRow {
  /** Joined rooms only: events in (after, upTo]. */
  has_events: boolean;
  /** Joined rooms only: receipts in (after, upTo]. */
  has_receipts: boolean;
  /** Joined rooms with events in the window: the latest `recentLimit` of them, newest first (when asked for). */
  recent: StoredEvent[] | undefined;
  /** Joined rooms with events in the window: the stream positions of those latest events, newest first. */
  positions: number[] | undefined;
  /**
   * Joined rooms with events or receipts in the window: notification counts after the read
   * position, and the positions of the events of others not yet evaluated by the push worker.
   */
  counts: (RoomCounts & { tail: number[] }) | undefined;
}

export interface SyncOverview {
  rooms: RoomWithChanges[];
  accountDataChanged: boolean;
  /** The device's end-to-end encryption flags and key counts (keys/sync-section.ts). */
  e2ee: E2eeOverview;
  /** The push worker's cursor (events above it have no stored actions yet). */
  pushCursor: number;
}

/**
 * One query for a sync: the user's rooms with the given memberships (forgotten ones left out),
 * whether each joined room has events or receipts in (after, upTo], the positions of its latest
 * events in the window (and the events themselves unless `withEvents` is false: the caller then
 * takes them from memory, matrix/sync/recent-events.ts); whether the user's account data
 * changed; and the device's end-to-end encryption overview. after = -1 for everything up to upTo.
 */
export async function roomsOfUserWithChanges(
  db: Knex,
  q: { userId: string; deviceId: string; memberships: Membership[]; after: number; upTo: number; recentLimit: number; withEvents: boolean },
): Promise<SyncOverview> {
  const { userId, memberships, after, upTo, recentLimit } = q;
  if (memberships.length === 0) throw new Error('memberships must not be empty');
  const recent = q.withEvents
    ? `CASE WHEN x.has_events THEN (
         SELECT json_agg(t ORDER BY t.stream_pos DESC) FROM (
           SELECT e.stream_pos, e.json, e.redacted_by, e.sender_device, e.txn_id FROM events e
           WHERE e.room_id = m.room_id AND e.stream_pos > ? AND e.stream_pos <= ?
           ORDER BY e.stream_pos DESC LIMIT ?) t)
       END AS recent`
    : `CASE WHEN x.has_events THEN (
         SELECT json_agg(t.stream_pos ORDER BY t.stream_pos DESC) FROM (
           SELECT e.stream_pos FROM events e
           WHERE e.room_id = m.room_id AND e.stream_pos > ? AND e.stream_pos <= ?
           ORDER BY e.stream_pos DESC LIMIT ?) t)
       END AS positions`;
  const counted = `x.has_events OR x.has_receipts`;
  const result = await preparedRaw(
    db,
    `SELECT a.*, pc.cursor AS push_cursor, m.room_id, m.user_id, m.membership, m.event_id, m.stream_pos, m.forgotten,
       x.has_events, x.has_receipts, ${recent}, ${COUNT_COLUMNS(counted)}
     FROM (SELECT EXISTS (
             SELECT 1 FROM account_data d WHERE d.user_id = ? AND d.stream_pos > ? AND d.stream_pos <= ?) AS account_data_changed,
             ${E2EE_OVERVIEW_COLUMNS}) a
     LEFT JOIN memberships m ON m.user_id = ? AND NOT m.forgotten AND m.membership IN (${memberships.map(() => '?').join(', ')})
     LEFT JOIN LATERAL (SELECT
         (m.membership = 'join' AND EXISTS (
           SELECT 1 FROM events e WHERE e.room_id = m.room_id AND e.stream_pos > ? AND e.stream_pos <= ?)) AS has_events,
         (m.membership = 'join' AND EXISTS (
           SELECT 1 FROM receipts r WHERE r.room_id = m.room_id AND r.stream_pos > ? AND r.stream_pos <= ?)) AS has_receipts
       ) x ON true
     ${READ_POS_LATERAL(counted)}
     CROSS JOIN ${PUSH_CURSOR_FROM}`,
    [
      after, upTo, recentLimit, MAX_TAIL_EVENTS,
      userId, after, upTo,
      ...e2eeOverviewParams(userId, q.deviceId, after, upTo),
      userId, ...memberships,
      after, upTo, after, upTo,
    ],
  );
  type Row = Omit<RoomWithChanges, 'recent' | 'positions' | 'room_id'> & {
    account_data_changed: boolean;
    room_id: string | null;
    recent?: EventRow[] | null;
    positions?: Array<number | string> | null;
    push_cursor: number | string;
    count_notifications: number | string | null;
    count_highlights: number | string | null;
    count_read_pos: number | string | null;
    count_tail: Array<number | string> | null;
  };
  const rows = result.rows as Row[];
  const rooms: RoomWithChanges[] = [];
  for (const r of rows) {
    if (r.room_id === null) continue;
    const events = r.recent ? r.recent.map(fromRow) : undefined;
    rooms.push({
      room_id: r.room_id,
      user_id: r.user_id,
      membership: r.membership,
      event_id: r.event_id,
      stream_pos: Number(r.stream_pos),
      forgotten: r.forgotten,
      has_events: r.has_events,
      has_receipts: r.has_receipts,
      recent: events,
      positions: events ? events.map((e) => e.streamPos) : r.positions ? r.positions.map(Number) : undefined,
      counts:
        r.count_read_pos === null
          ? undefined
          : {
              notifications: Number(r.count_notifications),
              highlights: Number(r.count_highlights),
              readPos: Number(r.count_read_pos),
              tail: (r.count_tail ?? []).map(Number),
            },
    });
  }
  return {
    rooms,
    accountDataChanged: rows[0]?.account_data_changed ?? false,
    e2ee: e2eeOverviewFromRow(rows[0] as unknown as Record<string, unknown>),
    pushCursor: Number(rows[0]?.push_cursor ?? 0),
  };
}
