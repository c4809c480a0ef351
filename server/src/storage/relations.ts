import type { Knex } from 'knex';
import { fromRow, type StoredEvent } from './events.ts';

const TARGET = "json->'content'->'m.relates_to'->>'event_id'";
const REL_TYPE = "json->'content'->'m.relates_to'->>'rel_type'";
const COLUMNS = ['stream_pos', 'json', 'redacted_by', 'sender_device', 'txn_id'];

/** Events of the room relating to `eventId`, by stream position, for /relations. */
export async function relationsOf(
  db: Knex,
  roomId: string,
  eventId: string,
  opts: { relType?: string | undefined; eventType?: string | undefined; after?: number | undefined; upTo?: number | undefined; limit: number; backwards: boolean },
): Promise<StoredEvent[]> {
  let q = db('events').where('room_id', roomId).whereRaw(`${TARGET} = ?`, [eventId]);
  if (opts.relType !== undefined) q = q.whereRaw(`${REL_TYPE} = ?`, [opts.relType]);
  if (opts.eventType !== undefined) q = q.where('type', opts.eventType);
  if (opts.after !== undefined) q = q.where('stream_pos', '>', opts.after);
  if (opts.upTo !== undefined) q = q.where('stream_pos', '<=', opts.upTo);
  const rows = await q.orderBy('stream_pos', opts.backwards ? 'desc' : 'asc').limit(opts.limit).select(...COLUMNS);
  return rows.map(fromRow);
}

/** Every edit, thread reply and reference to any of `eventIds` (up to a position), oldest first. */
export async function aggregatableRelations(db: Knex, roomId: string, eventIds: string[], upTo: number): Promise<StoredEvent[]> {
  if (eventIds.length === 0) return [];
  const rows = await db('events')
    .where('room_id', roomId)
    .where('stream_pos', '<=', upTo)
    .whereRaw(`${TARGET} = ANY(?)`, [eventIds])
    .whereRaw(`${REL_TYPE} IN ('m.replace', 'm.thread', 'm.reference')`)
    .whereNull('redacted_by')
    .orderBy('stream_pos', 'asc')
    .select(...COLUMNS);
  return rows.map(fromRow);
}

/** Thread roots of a room, the most recently active first, with the position of their last reply. */
export async function threadRoots(
  db: Knex,
  roomId: string,
  opts: { upTo: number; before?: number | undefined; limit: number; participant?: string | undefined },
): Promise<Array<{ rootId: string; lastPos: number }>> {
  const replies = db('events as e')
    .where('e.room_id', roomId)
    .where('e.stream_pos', '<=', opts.upTo)
    .whereRaw("e.json->'content'->'m.relates_to'->>'rel_type' = 'm.thread'")
    .select(db.raw("e.json->'content'->'m.relates_to'->>'event_id' AS root_id"), 'e.stream_pos', 'e.sender');
  let q = db
    .from(replies.as('t'))
    .groupBy('t.root_id')
    .select('t.root_id', db.raw('MAX(t.stream_pos) AS last_pos'));
  if (opts.participant !== undefined) {
    // Participated: sent a reply, or the root itself.
    q = q.havingRaw('bool_or(t.sender = ?) OR EXISTS (SELECT 1 FROM events r WHERE r.event_id = t.root_id AND r.sender = ?)', [opts.participant, opts.participant]);
  }
  if (opts.before !== undefined) q = q.havingRaw('MAX(t.stream_pos) < ?', [opts.before]);
  const rows = (await q.orderBy('last_pos', 'desc').limit(opts.limit)) as Array<{ root_id: string; last_pos: string | number }>;
  return rows.map((r) => ({ rootId: r.root_id, lastPos: Number(r.last_pos) }));
}
