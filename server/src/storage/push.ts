import type { Knex } from 'knex';
import type { Pdu } from '../matrix/events/pdu.ts';
import { upsertAccountData } from './account-data.ts';
import { fromRow, type EventRow, type StoredEvent } from './events.ts';
import { nextStreamPos } from './stream.ts';

// Push: rules, pushers, evaluated notifications, the evaluation cursor, gateway deliveries.

const READ_RECEIPTS = `rc.receipt_type IN ('m.read', 'm.read.private')`;

/**
 * Columns for a query over a user's memberships `m` (storage/sync-queries.ts): the room's read
 * position (read receipt, or the membership's position), its notifications and highlights after
 * it (as notificationCounts), and the positions of the events of others above both it and the
 * push worker's cursor (which the caller evaluates), for the rows where `when` holds.
 * One parameter: the tail limit. Needs `rp` (READ_POS_LATERAL) and `pc` (PUSH_CURSOR_FROM).
 */
export const COUNT_COLUMNS = (when: string) => `
       CASE WHEN ${when} THEN (SELECT count(*) FROM (SELECT 1 FROM event_push_actions pa
          WHERE pa.user_id = m.user_id AND pa.room_id = m.room_id AND pa.event_stream_pos > rp.read_pos LIMIT 999) n) END AS count_notifications,
       CASE WHEN ${when} THEN (SELECT count(*) FROM (SELECT 1 FROM event_push_actions pa
          WHERE pa.user_id = m.user_id AND pa.room_id = m.room_id AND pa.event_stream_pos > rp.read_pos AND pa.highlight LIMIT 999) h) END AS count_highlights,
       CASE WHEN ${when} THEN rp.read_pos END AS count_read_pos,
       CASE WHEN ${when} THEN (SELECT json_agg(t.stream_pos ORDER BY t.stream_pos) FROM (
          SELECT e.stream_pos FROM events e
          WHERE e.room_id = m.room_id AND e.stream_pos > greatest(rp.read_pos, pc.cursor) AND e.sender <> m.user_id
          ORDER BY e.stream_pos LIMIT ?) t) END AS count_tail`;
export const READ_POS_LATERAL = (when: string) => `LEFT JOIN LATERAL (SELECT COALESCE((
             SELECT max(rc.event_stream_pos) FROM receipts rc
             WHERE rc.room_id = m.room_id AND rc.user_id = m.user_id AND ${READ_RECEIPTS}), m.stream_pos) AS read_pos
           WHERE ${when}) rp ON true`;
export const PUSH_CURSOR_FROM = `(SELECT stream_pos AS cursor FROM push_cursor WHERE id = 1) pc`;

function json<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

// ---- rules -----------------------------------------------------------------------------

export async function rulesOf<T>(db: Knex, userIds: string[]): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  for (let i = 0; i < userIds.length; i += 1000) {
    const rows = await db('push_rules').whereIn('user_id', userIds.slice(i, i + 1000)).select('user_id', 'rules');
    for (const r of rows as Array<{ user_id: string; rules: unknown }>) out.set(r.user_id, json<T>(r.rules));
  }
  return out;
}

/**
 * Read-modify-write of a user's rules under a row lock, and the `m.push_rules` account data
 * that clients see in sync, at a new stream position (taken last: it serialises writers).
 */
export async function updateRules<T>(
  db: Knex,
  userId: string,
  empty: T,
  change: (current: T) => { stored: T; visible: Record<string, unknown> },
): Promise<number> {
  return db.transaction(async (trx) => {
    // The row must exist to be locked: concurrent first writes meet on the insert.
    await trx('push_rules').insert({ user_id: userId, rules: JSON.stringify(empty) }).onConflict('user_id').ignore();
    const row = await trx('push_rules').where({ user_id: userId }).forUpdate().first('rules');
    const { stored, visible } = change(json<T>(row.rules));
    await trx('push_rules').where({ user_id: userId }).update({ rules: JSON.stringify(stored) });
    const pos = await nextStreamPos(trx);
    await upsertAccountData(trx, { user_id: userId, room_id: '', type: 'm.push_rules', content: visible, stream_pos: pos });
    return pos;
  });
}

// ---- pushers ---------------------------------------------------------------------------

export interface PusherRow {
  id: number;
  user_id: string;
  kind: string;
  app_id: string;
  pushkey: string;
  app_display_name: string;
  device_display_name: string;
  profile_tag: string | null;
  lang: string;
  data: Record<string, unknown>;
  created_ts: number;
}

function pusher(r: PusherRow): PusherRow {
  return { ...r, id: Number(r.id), created_ts: Number(r.created_ts), data: json(r.data) };
}

export async function pushersOf(db: Knex, userIds: string[]): Promise<PusherRow[]> {
  if (userIds.length === 0) return [];
  const rows: PusherRow[] = [];
  for (let i = 0; i < userIds.length; i += 1000) {
    rows.push(...(await db('pushers').whereIn('user_id', userIds.slice(i, i + 1000)).orderBy('id')));
  }
  return rows.map(pusher);
}

export async function findPusher(db: Knex, id: number): Promise<PusherRow | undefined> {
  const row = await db('pushers').where({ id }).first();
  return row ? pusher(row) : undefined;
}

export async function countPushers(db: Knex, userId: string): Promise<number> {
  const row = await db('pushers').where({ user_id: userId }).count<{ n: string }>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/** Adds or updates (user, app_id, pushkey); unless `append`, other users' pushers with that key go. */
export async function setPusher(db: Knex, row: Omit<PusherRow, 'id'>, append: boolean): Promise<void> {
  await db.transaction(async (trx) => {
    if (!append) await trx('pushers').where({ app_id: row.app_id, pushkey: row.pushkey }).whereNot({ user_id: row.user_id }).delete();
    await trx('pushers')
      .insert({ ...row, data: JSON.stringify(row.data) })
      .onConflict(['user_id', 'app_id', 'pushkey'])
      .merge(['kind', 'app_display_name', 'device_display_name', 'profile_tag', 'lang', 'data']);
  });
}

export async function deletePusher(db: Knex, userId: string, appId: string, pushkey: string): Promise<number> {
  return db('pushers').where({ user_id: userId, app_id: appId, pushkey }).delete();
}

/** The gateway rejected a pushkey: every pusher of that app with that key goes. */
export async function deletePushersByKey(db: Knex, appId: string, pushkeys: string[]): Promise<number> {
  if (pushkeys.length === 0) return 0;
  return db('pushers').where({ app_id: appId }).whereIn('pushkey', pushkeys).delete();
}

// ---- evaluation ------------------------------------------------------------------------

export interface PushActionRow {
  user_id: string;
  event_id: string;
  room_id: string;
  event_stream_pos: number;
  highlight: boolean;
  actions: unknown[];
  ts: number;
}

/**
 * Claims the evaluation cursor (one node at a time; SKIP LOCKED: another node's run is not
 * waited for) and returns it with the events after it, or undefined when it is taken.
 */
export async function claimCursor(trx: Knex.Transaction, limit: number): Promise<{ cursor: number; events: StoredEvent[] } | undefined> {
  const result = await trx.raw('SELECT stream_pos FROM push_cursor WHERE id = 1 FOR UPDATE SKIP LOCKED');
  const row = (result.rows as Array<{ stream_pos: string | number }>)[0];
  if (!row) return undefined;
  const cursor = Number(row.stream_pos);
  const events = await trx('events')
    .where('stream_pos', '>', cursor)
    .orderBy('stream_pos')
    .limit(limit)
    .select('stream_pos', 'json', 'redacted_by', 'sender_device', 'txn_id');
  return { cursor, events: (events as EventRow[]).map(fromRow) };
}

export async function advanceCursor(trx: Knex.Transaction, pos: number): Promise<void> {
  await trx('push_cursor').where({ id: 1 }).update({ stream_pos: pos });
}

export async function pushCursor(db: Knex): Promise<number> {
  const row = await db('push_cursor').where({ id: 1 }).first('stream_pos');
  return Number(row?.stream_pos ?? 0);
}

export async function insertPushActions(trx: Knex, rows: PushActionRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    await trx('event_push_actions')
      .insert(rows.slice(i, i + 1000).map((r) => ({ ...r, actions: JSON.stringify(r.actions) })))
      .onConflict(['user_id', 'event_id'])
      .ignore();
  }
}

/** Joined members of each room, and the users invited by the given member events. */
export async function joinedMembers(db: Knex, roomIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (roomIds.length === 0) return out;
  const rows = await db('memberships').whereIn('room_id', roomIds).where({ membership: 'join' }).select('room_id', 'user_id');
  for (const r of rows as Array<{ room_id: string; user_id: string }>) {
    let list = out.get(r.room_id);
    if (!list) out.set(r.room_id, (list = []));
    list.push(r.user_id);
  }
  return out;
}

/** Current state events of one type in each room, keyed room -> state_key -> pdu. */
export async function currentStateOfType(db: Knex, roomIds: string[], type: string, stateKeys?: string[]): Promise<Map<string, Map<string, Pdu>>> {
  const out = new Map<string, Map<string, Pdu>>();
  if (roomIds.length === 0) return out;
  let q = db('current_state as cs')
    .join('events as e', 'e.event_id', 'cs.event_id')
    .whereIn('cs.room_id', roomIds)
    .where('cs.type', type)
    .select('cs.room_id', 'cs.state_key', 'e.json');
  if (stateKeys) q = q.whereIn('cs.state_key', stateKeys);
  for (const r of (await q) as Array<{ room_id: string; state_key: string; json: unknown }>) {
    let m = out.get(r.room_id);
    if (!m) out.set(r.room_id, (m = new Map()));
    m.set(r.state_key, json<Pdu>(r.json));
  }
  return out;
}

// ---- counts and /notifications ---------------------------------------------------------

export interface RoomCounts {
  notifications: number;
  highlights: number;
  /** Events after this position are not read (the read receipt, or the join). */
  readPos: number;
}

/**
 * Per room: notifications and highlights after the user's read receipt (or `fallbackAfter`),
 * counted from the evaluated actions, capped at 999; and the evaluation cursor, read in the
 * same statement so that events above it (not evaluated yet) can be evaluated by the caller.
 */
export async function notificationCounts(db: Knex, userId: string, fallbackAfter: Map<string, number>): Promise<{ cursor: number; rooms: Map<string, RoomCounts> }> {
  const rooms = new Map<string, RoomCounts>();
  const entries = [...fallbackAfter.entries()];
  if (entries.length === 0) return { cursor: await pushCursor(db), rooms };
  const result = await db.raw(
    `SELECT r.room_id, r.read_pos, c.cursor,
       (SELECT count(*) FROM (SELECT 1 FROM event_push_actions pa
          WHERE pa.user_id = ? AND pa.room_id = r.room_id AND pa.event_stream_pos > r.read_pos LIMIT 999) n) AS notifications,
       (SELECT count(*) FROM (SELECT 1 FROM event_push_actions pa
          WHERE pa.user_id = ? AND pa.room_id = r.room_id AND pa.event_stream_pos > r.read_pos AND pa.highlight LIMIT 999) h) AS highlights
     FROM (SELECT v.room_id, COALESCE((
             SELECT max(rc.event_stream_pos) FROM receipts rc
             WHERE rc.room_id = v.room_id AND rc.user_id = ? AND ${READ_RECEIPTS}), v.after) AS read_pos
           FROM (VALUES ${entries.map(() => '(?::text, ?::bigint)').join(', ')}) AS v(room_id, after)) r
     CROSS JOIN (SELECT stream_pos AS cursor FROM push_cursor WHERE id = 1) c`,
    [userId, userId, userId, ...entries.flat()],
  );
  let cursor = 0;
  for (const r of result.rows as Array<Record<string, string | number>>) {
    cursor = Number(r.cursor);
    rooms.set(String(r.room_id), { notifications: Number(r.notifications), highlights: Number(r.highlights), readPos: Number(r.read_pos) });
  }
  return { cursor, rooms };
}

/** Events from others above `after` per room, not yet evaluated (few: the worker keeps up). */
export async function eventsAfter(db: Knex, userId: string, after: Map<string, number>, limit: number): Promise<StoredEvent[]> {
  const entries = [...after.entries()];
  if (entries.length === 0) return [];
  const result = await db.raw(
    `SELECT e.stream_pos, e.json, e.redacted_by, e.sender_device, e.txn_id FROM events e
     JOIN (VALUES ${entries.map(() => '(?::text, ?::bigint)').join(', ')}) AS v(room_id, after)
       ON e.room_id = v.room_id AND e.stream_pos > v.after
     WHERE e.sender <> ?
     ORDER BY e.stream_pos LIMIT ?`,
    [...entries.flat(), userId, limit],
  );
  return (result.rows as EventRow[]).map(fromRow);
}

/** The user's unread notifications over all joined rooms (the badge count sent to gateways). */
export async function totalUnread(db: Knex, userId: string): Promise<number> {
  const result = await db.raw(
    `SELECT count(*) AS n FROM (
       SELECT 1 FROM event_push_actions pa JOIN memberships m ON m.room_id = pa.room_id AND m.user_id = pa.user_id AND m.membership = 'join'
       WHERE pa.user_id = ? AND pa.event_stream_pos > COALESCE((
         SELECT max(rc.event_stream_pos) FROM receipts rc WHERE rc.room_id = pa.room_id AND rc.user_id = pa.user_id AND ${READ_RECEIPTS}), m.stream_pos)
       LIMIT 9999) t`,
    [userId],
  );
  return Number((result.rows as Array<{ n: string }>)[0]?.n ?? 0);
}

export interface NotificationRow extends PushActionRow {
  read: boolean;
}

/** GET /notifications: newest first, from before `from` (an event stream position). */
export async function listNotifications(db: Knex, userId: string, from: number | undefined, limit: number, onlyHighlight: boolean): Promise<NotificationRow[]> {
  const result = await db.raw(
    `SELECT pa.*, pa.event_stream_pos <= COALESCE((
       SELECT max(rc.event_stream_pos) FROM receipts rc WHERE rc.room_id = pa.room_id AND rc.user_id = pa.user_id AND ${READ_RECEIPTS}), 0) AS read
     FROM event_push_actions pa
     WHERE pa.user_id = ? AND pa.event_stream_pos < ? ${onlyHighlight ? 'AND pa.highlight' : ''}
     ORDER BY pa.event_stream_pos DESC LIMIT ?`,
    [userId, from ?? Number.MAX_SAFE_INTEGER, limit],
  );
  return (result.rows as NotificationRow[]).map((r) => ({
    ...r,
    event_stream_pos: Number(r.event_stream_pos),
    ts: Number(r.ts),
    actions: json(r.actions),
  }));
}

// ---- deliveries to push gateways -------------------------------------------------------

export interface DeliveryRow {
  id: number;
  pusher_id: number;
  user_id: string;
  event_id: string;
  room_id: string;
  event_stream_pos: number;
  highlight: boolean;
  actions: unknown[];
  attempts: number;
  due_ts: number;
}

export async function insertDeliveries(trx: Knex, rows: Array<Omit<DeliveryRow, 'id' | 'attempts'>>): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    await trx('push_deliveries').insert(rows.slice(i, i + 1000).map((r) => ({ ...r, actions: JSON.stringify(r.actions), attempts: 0 })));
  }
}

/**
 * Claims due deliveries (FOR UPDATE SKIP LOCKED: nodes claim side by side) and pushes their
 * due time past a lease, so that a node that dies mid-request leaves them to another.
 */
export async function claimDeliveries(db: Knex, now: number, leaseMs: number, limit: number): Promise<DeliveryRow[]> {
  const result = await db.raw(
    `UPDATE push_deliveries SET due_ts = ?, attempts = attempts + 1
     WHERE id IN (SELECT id FROM push_deliveries WHERE due_ts <= ? ORDER BY due_ts, id LIMIT ? FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [now + leaseMs, now, limit],
  );
  return (result.rows as DeliveryRow[]).map((r) => ({
    ...r,
    id: Number(r.id),
    pusher_id: Number(r.pusher_id),
    event_stream_pos: Number(r.event_stream_pos),
    attempts: Number(r.attempts),
    due_ts: Number(r.due_ts),
    actions: json(r.actions),
  }));
}

export async function deleteDelivery(db: Knex, id: number): Promise<void> {
  await db('push_deliveries').where({ id }).delete();
}

export async function retryDelivery(db: Knex, id: number, dueTs: number, error: string): Promise<void> {
  await db('push_deliveries').where({ id }).update({ due_ts: dueTs, last_error: error.slice(0, 500) });
}

export async function nextDeliveryDue(db: Knex): Promise<number | undefined> {
  const row = await db('push_deliveries').min<{ due: string | null }>({ due: 'due_ts' }).first();
  return row?.due === null || row?.due === undefined ? undefined : Number(row.due);
}

/** The user's read position in a room (receipt), for skipping deliveries already read. */
export async function readPosition(db: Knex, userId: string, roomId: string): Promise<number> {
  const result = await db.raw(
    `SELECT max(rc.event_stream_pos) AS pos FROM receipts rc WHERE rc.room_id = ? AND rc.user_id = ? AND ${READ_RECEIPTS}`,
    [roomId, userId],
  );
  return Number((result.rows as Array<{ pos: string | null }>)[0]?.pos ?? 0);
}
