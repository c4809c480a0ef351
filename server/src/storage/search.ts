import type { Knex } from 'knex';
import { fromRow, type StoredEvent } from './events.ts';

/** The searchable event types and the content field each is found by. */
export const SEARCH_KEYS = { 'content.body': 'body', 'content.name': 'name', 'content.topic': 'topic' } as const;
export type SearchKey = keyof typeof SEARCH_KEYS;
export const SEARCHABLE_TYPES = ['m.room.message', 'm.room.name', 'm.room.topic'];

// Exactly the expression of the index events_search (migration 015): the planner uses the
// index only for this text.
const VECTOR_ALL =
  "to_tsvector('simple'::regconfig, coalesce(json->'content'->>'body', '') || ' ' || coalesce(json->'content'->>'name', '') || ' ' || coalesce(json->'content'->>'topic', ''))";

function vectorOf(keys: SearchKey[]): string {
  return `to_tsvector('simple'::regconfig, ${keys.map((k) => `coalesce(json->'content'->>'${SEARCH_KEYS[k]}', '')`).join(" || ' ' || ")})`;
}

/** The distinct lexemes of a search term, as the index's text configuration splits it. */
export async function lexemesOf(db: Knex, term: string): Promise<string[]> {
  const result = await db.raw("SELECT unnest(tsvector_to_array(to_tsvector('simple'::regconfig, ?))) AS w", [term]);
  return (result.rows as Array<{ w: string }>).map((r) => r.w);
}

export interface SearchMatch {
  stream_pos: number;
  room_id: string;
  type: string;
  rank: number;
}

/**
 * Events matching a tsquery in the given rooms, each room up to its own position, best first
 * (`rank`) or newest first (`recent`), at most `limit`. Redacted events never match (their
 * content is gone, and they are excluded besides).
 */
export async function searchEvents(
  db: Knex,
  opts: {
    rooms: Array<{ room_id: string; up_to: number }>;
    tsquery: string;
    keys: SearchKey[];
    types: string[];
    senders?: string[] | undefined;
    notSenders?: string[] | undefined;
    containsUrl?: boolean | undefined;
    order: 'rank' | 'recent';
    limit: number;
  },
): Promise<SearchMatch[]> {
  if (opts.rooms.length === 0 || opts.types.length === 0) return [];
  const bindings: Array<string | number> = [opts.tsquery, JSON.stringify(opts.rooms), opts.tsquery];
  let where = '';
  // A subset of the fields: the index narrows, the exact vector decides.
  if (opts.keys.length < Object.keys(SEARCH_KEYS).length) {
    where += ` AND ${vectorOf(opts.keys)} @@ to_tsquery('simple'::regconfig, ?)`;
    bindings.push(opts.tsquery);
  }
  where += ` AND e.type IN (${opts.types.map(() => '?').join(', ')})`;
  bindings.push(...opts.types);
  if (opts.senders) {
    if (opts.senders.length === 0) return [];
    where += ` AND e.sender IN (${opts.senders.map(() => '?').join(', ')})`;
    bindings.push(...opts.senders);
  }
  if (opts.notSenders && opts.notSenders.length > 0) {
    where += ` AND e.sender NOT IN (${opts.notSenders.map(() => '?').join(', ')})`;
    bindings.push(...opts.notSenders);
  }
  // Not the jsonb `?` operator: knex reads every `?` as a binding.
  if (opts.containsUrl !== undefined) where += opts.containsUrl ? " AND json->'content'->'url' IS NOT NULL" : " AND json->'content'->'url' IS NULL";
  bindings.push(opts.limit);
  const order = opts.order === 'rank' ? 'rank DESC, e.stream_pos DESC' : 'e.stream_pos DESC';
  const result = await db.raw(
    `SELECT e.stream_pos, e.room_id, e.type, ts_rank(${VECTOR_ALL}, to_tsquery('simple'::regconfig, ?)) AS rank
     FROM events e
     JOIN jsonb_to_recordset(?::jsonb) AS r(room_id text, up_to bigint) ON r.room_id = e.room_id
     WHERE e.type IN ('m.room.message', 'm.room.name', 'm.room.topic')
       AND ${VECTOR_ALL} @@ to_tsquery('simple'::regconfig, ?)
       AND e.redacted_by IS NULL
       AND e.stream_pos <= r.up_to${where}
     ORDER BY ${order}
     LIMIT ?`,
    bindings,
  );
  return (result.rows as Array<{ stream_pos: string | number; room_id: string; type: string; rank: string | number }>).map((r) => ({
    stream_pos: Number(r.stream_pos),
    room_id: r.room_id,
    type: r.type,
    rank: Number(r.rank),
  }));
}

/** Events by stream position (the page of results to show). */
export async function eventsAtPositions(db: Knex, positions: number[]): Promise<StoredEvent[]> {
  if (positions.length === 0) return [];
  const rows = await db('events').whereIn('stream_pos', positions).select('stream_pos', 'json', 'redacted_by', 'sender_device', 'txn_id');
  return rows.map(fromRow);
}
