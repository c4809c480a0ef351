import type { Knex } from 'knex';
import type { Pdu } from '../matrix/events/pdu.ts';

export interface StoredEvent {
  pdu: Pdu;
  streamPos: number;
  redactedBy: string | null;
  /** The sending device and its txn id, for `unsigned.transaction_id`. */
  txn: { deviceId: string; txnId: string } | undefined;
}

export interface EventRow {
  stream_pos: number;
  json: Pdu | string;
  redacted_by: string | null;
  sender_device: string | null;
  txn_id: string | null;
}

/** A stored event from its row (the columns of COLUMNS, `json` parsed or not). */
export function fromRow(row: EventRow): StoredEvent {
  const pdu = typeof row.json === 'string' ? (JSON.parse(row.json) as Pdu) : row.json;
  const txn = row.sender_device && row.txn_id ? { deviceId: row.sender_device, txnId: row.txn_id } : undefined;
  return { pdu, streamPos: Number(row.stream_pos), redactedBy: row.redacted_by, txn };
}

const COLUMNS = ['stream_pos', 'json', 'redacted_by', 'sender_device', 'txn_id'] as const;

export async function insertEvent(trx: Knex.Transaction, pdu: Pdu, streamPos: number, txn?: { deviceId: string; txnId: string }): Promise<void> {
  await trx('events').insert({
    stream_pos: streamPos,
    event_id: pdu.event_id,
    room_id: pdu.room_id,
    type: pdu.type,
    state_key: pdu.state_key ?? null,
    sender: pdu.sender,
    depth: pdu.depth,
    origin_server_ts: pdu.origin_server_ts,
    json: JSON.stringify(pdu),
    sender_device: txn?.deviceId ?? null,
    txn_id: txn?.txnId ?? null,
  });
}

/**
 * Stores events at the next stream positions, in one statement: takes the positions from
 * stream_head (see stream.ts), inserts the events, updates the current state and the
 * memberships they change, and records the transaction ids `txnRows` (the caller compares
 * `txnsRecorded` with their number: fewer means another request recorded one meanwhile).
 * One round trip, so that the stream_head row lock, held from here to the commit, serialises
 * writers for as short a time as possible. Returns the positions, in order.
 */
export async function insertEventsAtNextPositions(
  trx: Knex.Transaction,
  events: Array<{ pdu: Pdu; txn?: { deviceId: string; txnId: string } | undefined }>,
  txnRows: Array<{ user_id: string; device_id: string; txn_id: string; event_id: string; created_ts: number }> = [],
): Promise<{ positions: number[]; txnsRecorded: number }> {
  if (events.length === 0) return { positions: [], txnsRecorded: 0 };
  const rows = events.map(({ pdu, txn }, ord) => ({
    ord: ord + 1,
    event_id: pdu.event_id,
    room_id: pdu.room_id,
    type: pdu.type,
    state_key: pdu.state_key ?? null,
    sender: pdu.sender,
    depth: pdu.depth,
    origin_server_ts: pdu.origin_server_ts,
    json: pdu,
    sender_device: txn?.deviceId ?? null,
    txn_id: txn?.txnId ?? null,
    membership: pdu.type === 'm.room.member' && pdu.state_key !== undefined ? String(pdu.content.membership) : null,
  }));
  const result = await trx.raw(
    `WITH head AS (
       UPDATE stream_head SET pos = pos + ? WHERE id = 1 RETURNING pos
     ), v AS (
       SELECT head.pos - ?::bigint + x.ord AS stream_pos, x.*
       FROM head, jsonb_to_recordset(?::jsonb) AS x(ord int, event_id text, room_id text, type text, state_key text, sender text,
         depth bigint, origin_server_ts bigint, json jsonb, sender_device text, txn_id text, membership text)
     ), ins AS (
       INSERT INTO events (stream_pos, event_id, room_id, type, state_key, sender, depth, origin_server_ts, json, sender_device, txn_id)
       SELECT stream_pos, event_id, room_id, type, state_key, sender, depth, origin_server_ts, json, sender_device, txn_id FROM v
     ), cs AS (
       INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos)
       SELECT DISTINCT ON (room_id, type, state_key) room_id, type, state_key, event_id, stream_pos
       FROM v WHERE state_key IS NOT NULL ORDER BY room_id, type, state_key, stream_pos DESC
       ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id, stream_pos = excluded.stream_pos
     ), mem AS (
       INSERT INTO memberships (room_id, user_id, membership, event_id, stream_pos, forgotten)
       SELECT DISTINCT ON (room_id, state_key) room_id, state_key, membership, event_id, stream_pos, false
       FROM v WHERE membership IS NOT NULL ORDER BY room_id, state_key, stream_pos DESC
       ON CONFLICT (room_id, user_id) DO UPDATE
         SET membership = excluded.membership, event_id = excluded.event_id, stream_pos = excluded.stream_pos, forgotten = false
     ), tx AS (
       INSERT INTO txn_ids (user_id, device_id, txn_id, event_id, created_ts)
       SELECT user_id, device_id, txn_id, event_id, created_ts
       FROM jsonb_to_recordset(?::jsonb) AS t(user_id text, device_id text, txn_id text, event_id text, created_ts bigint)
       ON CONFLICT (user_id, device_id, txn_id) DO NOTHING
       RETURNING 1
     )
     SELECT pos, (SELECT count(*) FROM tx) AS txns FROM head`,
    [rows.length, rows.length, JSON.stringify(rows), JSON.stringify(txnRows)],
  );
  const row = result.rows[0] as { pos: number | string; txns: number | string };
  const last = Number(row.pos);
  return { positions: rows.map((r) => last - rows.length + r.ord), txnsRecorded: Number(row.txns) };
}

/** A room's version and its latest event (the parent of the next one), in one query. */
export async function roomHead(db: Knex, roomId: string): Promise<{ room_version: string; latest: { event_id: string; depth: number } | undefined } | undefined> {
  const row = await db('rooms as r')
    .leftJoin(
      db('events').where({ room_id: roomId }).orderBy('stream_pos', 'desc').limit(1).select('room_id', 'event_id', 'depth').as('e'),
      'e.room_id',
      'r.room_id',
    )
    .where('r.room_id', roomId)
    .first('r.room_version', 'e.event_id', 'e.depth');
  if (!row) return undefined;
  return { room_version: row.room_version, latest: row.event_id ? { event_id: row.event_id, depth: Number(row.depth) } : undefined };
}

export interface WriteContext {
  /** Per existing room: its version and latest event (the parent of the next one). */
  heads: Map<string, { room_version: string; latest: { event_id: string; depth: number } | undefined }>;
  /** Per recorded transaction (see txnKeyString): the event it produced, if still stored. */
  txns: Map<string, Pdu | undefined>;
  /** Current state events found among the requested (room, type, state_key) triples. */
  state: Pdu[];
}

/**
 * What a batch of appends needs to read before writing, in one query (one round trip): the
 * rooms' versions and latest events, the transactions already recorded, and the current state
 * entries the authorization rules look at.
 */
export async function writeContext(
  db: Knex,
  roomIds: string[],
  txns: Array<{ user_id: string; device_id: string; txn_id: string }>,
  stateKeys: Array<[string, string, string]>,
): Promise<WriteContext> {
  const result = await db.raw(
    `SELECT
       (SELECT coalesce(jsonb_agg(jsonb_build_object('room_id', r.room_id, 'room_version', r.room_version, 'event_id', e.event_id, 'depth', e.depth)), '[]'::jsonb)
        FROM rooms r LEFT JOIN LATERAL (
          SELECT event_id, depth FROM events WHERE events.room_id = r.room_id ORDER BY stream_pos DESC LIMIT 1
        ) e ON true
        WHERE r.room_id IN (SELECT value FROM jsonb_array_elements_text(?::jsonb))) AS heads,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('user_id', t.user_id, 'device_id', t.device_id, 'txn_id', t.txn_id, 'json', ev.json)), '[]'::jsonb)
        FROM jsonb_to_recordset(?::jsonb) AS k(user_id text, device_id text, txn_id text)
        JOIN txn_ids t ON t.user_id = k.user_id AND t.device_id = k.device_id AND t.txn_id = k.txn_id
        LEFT JOIN events ev ON ev.event_id = t.event_id) AS txns,
       (SELECT coalesce(jsonb_agg(e.json), '[]'::jsonb)
        FROM jsonb_to_recordset(?::jsonb) AS k(r text, t text, s text)
        JOIN current_state c ON c.room_id = k.r AND c.type = k.t AND c.state_key = k.s
        JOIN events e ON e.event_id = c.event_id) AS state`,
    [JSON.stringify(roomIds), JSON.stringify(txns), JSON.stringify(stateKeys.map(([r, t, s]) => ({ r, t, s })))],
  );
  const row = result.rows[0] as Record<'heads' | 'txns' | 'state', unknown>;
  const parse = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;
  const out: WriteContext = { heads: new Map(), txns: new Map(), state: parse<Pdu[]>(row.state) };
  for (const h of parse<Array<{ room_id: string; room_version: string; event_id: string | null; depth: number | null }>>(row.heads)) {
    out.heads.set(h.room_id, { room_version: h.room_version, latest: h.event_id ? { event_id: h.event_id, depth: Number(h.depth) } : undefined });
  }
  for (const t of parse<Array<{ user_id: string; device_id: string; txn_id: string; json: Pdu | null }>>(row.txns)) {
    out.txns.set(txnKeyString(t), t.json ?? undefined);
  }
  return out;
}

/** The identity of a transaction key in WriteContext.txns. */
export const txnKeyString = (k: { user_id: string; device_id: string; txn_id: string }) => JSON.stringify([k.user_id, k.device_id, k.txn_id]);

/** Events of the current state of a room for the given (type, state_key) pairs. */
export async function currentStateEvents(db: Knex, roomId: string, keys: Array<[string, string]>): Promise<StoredEvent[]> {
  if (keys.length === 0) return [];
  const rows = await db('current_state as c')
    .join('events as e', 'e.event_id', 'c.event_id')
    .where('c.room_id', roomId)
    .where((q) => {
      for (const [type, key] of keys) q.orWhere((w) => w.where({ 'c.type': type, 'c.state_key': key }));
    })
    .select('e.stream_pos', 'e.json', 'e.redacted_by', 'e.sender_device', 'e.txn_id');
  return rows.map(fromRow);
}

export async function findEvent(db: Knex, eventId: string): Promise<StoredEvent | undefined> {
  const row = await db('events').where({ event_id: eventId }).first(...COLUMNS);
  return row ? fromRow(row) : undefined;
}

export async function findEventsByIds(db: Knex, eventIds: string[]): Promise<StoredEvent[]> {
  if (eventIds.length === 0) return [];
  const rows = await db('events').whereIn('event_id', eventIds).select(...COLUMNS);
  return rows.map(fromRow);
}

/** The events at the given stream positions (a position names one event for good). */
export async function findEventsAtPositions(db: Knex, positions: number[]): Promise<StoredEvent[]> {
  if (positions.length === 0) return [];
  const rows = await db('events').whereIn('stream_pos', positions).select(...COLUMNS, 'room_id');
  return rows.map(fromRow);
}

/** The room's latest event: the single prev_event of the next one (the DAG is linear, no federation). */
export async function latestRoomEvent(db: Knex, roomId: string): Promise<{ event_id: string; depth: number } | undefined> {
  const row = await db('events').where({ room_id: roomId }).orderBy('stream_pos', 'desc').first('event_id', 'depth');
  return row ? { event_id: row.event_id, depth: Number(row.depth) } : undefined;
}

/**
 * Events of a room in (after, upTo], oldest first, or newest first with `backwards`.
 * `limit` bounds the count.
 */
export async function roomEventsBetween(
  db: Knex,
  roomId: string,
  opts: { after?: number; upTo?: number; limit: number; backwards: boolean; types?: string[] | undefined; notTypes?: string[] | undefined; senders?: string[] | undefined; notSenders?: string[] | undefined },
): Promise<StoredEvent[]> {
  let q = db('events').where('room_id', roomId);
  if (opts.after !== undefined) q = q.where('stream_pos', '>', opts.after);
  if (opts.upTo !== undefined) q = q.where('stream_pos', '<=', opts.upTo);
  if (opts.types) q = applyTypePatterns(q, opts.types, true);
  if (opts.notTypes && opts.notTypes.length > 0) q = applyTypePatterns(q, opts.notTypes, false);
  if (opts.senders) q = q.whereIn('sender', opts.senders);
  if (opts.notSenders && opts.notSenders.length > 0) q = q.whereNotIn('sender', opts.notSenders);
  const rows = await q.orderBy('stream_pos', opts.backwards ? 'desc' : 'asc').limit(opts.limit).select(...COLUMNS);
  return rows.map(fromRow);
}

// Filter type patterns allow a trailing '*' wildcard.
function applyTypePatterns(q: Knex.QueryBuilder, patterns: string[], include: boolean): Knex.QueryBuilder {
  const exact = patterns.filter((p) => !p.includes('*'));
  const wild = patterns.filter((p) => p.includes('*')).map((p) => p.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%'));
  const build = (b: Knex.QueryBuilder) => {
    if (exact.length) b.orWhereIn('type', exact);
    for (const w of wild) b.orWhereLike('type', w);
    if (!exact.length && !wild.length) b.whereRaw('false');
  };
  return include ? q.where(build) : q.whereNot(build);
}

/** Room ids (among `roomIds`) that have events in (after, upTo]. */
export async function roomsWithEventsBetween(db: Knex, roomIds: string[], after: number, upTo: number): Promise<Set<string>> {
  if (roomIds.length === 0) return new Set();
  const rows = await db('events')
    .whereIn('room_id', roomIds)
    .where('stream_pos', '>', after)
    .where('stream_pos', '<=', upTo)
    .distinct('room_id');
  return new Set(rows.map((r: { room_id: string }) => r.room_id));
}

/** State events of a room in (after, upTo], oldest first. */
export async function stateEventsBetween(db: Knex, roomId: string, after: number, upTo: number): Promise<StoredEvent[]> {
  const rows = await db('events')
    .where('room_id', roomId)
    .whereNotNull('state_key')
    .where('stream_pos', '>', after)
    .where('stream_pos', '<=', upTo)
    .orderBy('stream_pos', 'asc')
    .select(...COLUMNS);
  return rows.map(fromRow);
}

/** The room state right after position `at`: for each (type, state_key) the latest event. */
export async function stateAt(db: Knex, roomId: string, at: number): Promise<StoredEvent[]> {
  const rows = await db
    .select(...COLUMNS)
    .from(
      db('events')
        .where('room_id', roomId)
        .whereNotNull('state_key')
        .where('stream_pos', '<=', at)
        .distinctOn('type', 'state_key')
        .orderBy([{ column: 'type' }, { column: 'state_key' }, { column: 'stream_pos', order: 'desc' }])
        .select(...COLUMNS)
        .as('s'),
    )
    .orderBy('stream_pos', 'asc');
  return rows.map(fromRow);
}

/** Member events of one user in a room, oldest first (for history visibility). */
export async function membershipHistory(db: Knex, roomId: string, userId: string): Promise<StoredEvent[]> {
  const rows = await db('events')
    .where({ room_id: roomId, type: 'm.room.member', state_key: userId })
    .orderBy('stream_pos', 'asc')
    .select(...COLUMNS);
  return rows.map(fromRow);
}

/** History visibility changes of a room, oldest first. */
export async function visibilityHistory(db: Knex, roomId: string): Promise<StoredEvent[]> {
  const rows = await db('events')
    .where({ room_id: roomId, type: 'm.room.history_visibility', state_key: '' })
    .orderBy('stream_pos', 'asc')
    .select(...COLUMNS);
  return rows.map(fromRow);
}

export async function replaceRedacted(trx: Knex.Transaction, eventId: string, redacted: Pdu, redactedBy: string): Promise<void> {
  await trx('events').where({ event_id: eventId }).update({ json: JSON.stringify(redacted), redacted_by: redactedBy });
}

/** Types that count as unread messages (until push rules are evaluated per event). */
export const NOTIFYING_TYPES = ['m.room.message', 'm.room.encrypted', 'm.sticker', 'org.tocsin.alert'];

/** Per room, the number of notifying events from others after position `after[room]`. */
export async function countUnread(db: Knex, userId: string, after: Map<string, number>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const entries = [...after.entries()];
  if (entries.length === 0) return out;
  const rows = await db('events as e')
    .join(db.raw(`(VALUES ${entries.map(() => '(?, ?::bigint)').join(', ')}) AS r(room_id, after)`, entries.flat()), 'r.room_id', 'e.room_id')
    .whereRaw('e.stream_pos > r.after')
    .whereNot('e.sender', userId)
    .whereIn('e.type', NOTIFYING_TYPES)
    .whereNull('e.redacted_by')
    .groupBy('e.room_id')
    .select('e.room_id')
    .count<{ room_id: string; count: string | number }[]>('* as count');
  for (const r of rows) out.set(r.room_id, Math.min(Number(r.count), 999));
  return out;
}

export async function findStateEvent(db: Knex, roomId: string, type: string, stateKey: string): Promise<StoredEvent | undefined> {
  const row = await db('current_state as c')
    .join('events as e', 'e.event_id', 'c.event_id')
    .where({ 'c.room_id': roomId, 'c.type': type, 'c.state_key': stateKey })
    .first('e.stream_pos', 'e.json', 'e.redacted_by', 'e.sender_device', 'e.txn_id');
  return row ? fromRow(row) : undefined;
}

/** membershipHistory for several rooms at once: per room, oldest first. */
export async function membershipHistories(db: Knex, roomIds: string[], userId: string): Promise<Map<string, StoredEvent[]>> {
  if (roomIds.length === 0) return new Map();
  const rows = await db('events')
    .whereIn('room_id', roomIds)
    .where({ type: 'm.room.member', state_key: userId })
    .orderBy('stream_pos', 'asc')
    .select('room_id', ...COLUMNS);
  return groupByRoom(rows);
}

/** visibilityHistory for several rooms at once: per room, oldest first. */
export async function visibilityHistories(db: Knex, roomIds: string[]): Promise<Map<string, StoredEvent[]>> {
  if (roomIds.length === 0) return new Map();
  const rows = await db('events')
    .whereIn('room_id', roomIds)
    .where({ type: 'm.room.history_visibility', state_key: '' })
    .orderBy('stream_pos', 'asc')
    .select('room_id', ...COLUMNS);
  return groupByRoom(rows);
}

function groupByRoom(rows: Array<EventRow & { room_id: string }>): Map<string, StoredEvent[]> {
  const out = new Map<string, StoredEvent[]>();
  for (const r of rows) {
    const list = out.get(r.room_id);
    if (list) list.push(fromRow(r));
    else out.set(r.room_id, [fromRow(r)]);
  }
  return out;
}
