import type { Knex } from 'knex';
import { fromRow, type EventRow, type StoredEvent } from '../../storage/events.ts';

// The log book's reads. Its entries are room events (the events table belongs to the Matrix
// timeline); this only reads them, through the partial index of migration 016.

const ENTRY_PREDICATE = "events.type = 'm.room.message' AND (events.json->'content'->>'msgtype') = 'org.tocsin.logbook.entry'";

/** Log book events of a room up to `upTo`, oldest first, at most `cap` of them. */
export async function logbookEvents(db: Knex, roomId: string, upTo: number, cap: number): Promise<StoredEvent[]> {
  const rows: EventRow[] = await db('events')
    .where('room_id', roomId)
    .whereRaw(ENTRY_PREDICATE)
    .where('stream_pos', '<=', upTo)
    .orderBy('stream_pos', 'asc')
    .limit(cap)
    .select('stream_pos', 'json', 'redacted_by', 'sender_device', 'txn_id');
  return rows.map(fromRow);
}

/** The room's name as of `upTo` (what the reader may know of it), or undefined. */
export async function roomNameAt(db: Knex, roomId: string, upTo: number): Promise<string | undefined> {
  const row = await db('events')
    .where({ room_id: roomId, type: 'm.room.name', state_key: '' })
    .where('stream_pos', '<=', upTo)
    .orderBy('stream_pos', 'desc')
    .first('json');
  if (!row) return undefined;
  const pdu = typeof row.json === 'string' ? JSON.parse(row.json) : row.json;
  const name = pdu?.content?.name;
  return typeof name === 'string' && name.trim() !== '' ? name : undefined;
}

/** Display names of the authors, as they set them in that room (their member event up to `upTo`). */
export async function displayNamesAt(db: Knex, roomId: string, userIds: string[], upTo: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (userIds.length === 0) return out;
  const rows: Array<{ state_key: string; json: unknown }> = await db('events')
    .where({ room_id: roomId, type: 'm.room.member' })
    .whereIn('state_key', userIds)
    .where('stream_pos', '<=', upTo)
    .distinctOn('state_key')
    .orderBy([{ column: 'state_key' }, { column: 'stream_pos', order: 'desc' }])
    .select('state_key', 'json');
  for (const r of rows) {
    const pdu = (typeof r.json === 'string' ? JSON.parse(r.json) : r.json) as { content?: { displayname?: unknown } };
    const name = pdu.content?.displayname;
    if (typeof name === 'string' && name.trim() !== '') out.set(r.state_key, name.slice(0, 255));
  }
  return out;
}
