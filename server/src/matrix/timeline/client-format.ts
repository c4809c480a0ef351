import type { Knex } from 'knex';
import * as eventsRepo from '../../storage/events.ts';
import type { StoredEvent } from '../../storage/events.ts';
import type { JsonObject } from '../events/pdu.ts';

export interface ClientEvent {
  type: string;
  content: JsonObject;
  event_id: string;
  sender: string;
  origin_server_ts: number;
  room_id?: string;
  state_key?: string;
  redacts?: string;
  unsigned: Record<string, unknown>;
}

export interface Viewer {
  userId: string;
  deviceId?: string | undefined;
}

/**
 * Turns stored events into what clients see: no hashes, signatures or DAG fields, and an
 * `unsigned` with the age, the transaction id (for the sending device only), the previous
 * content of state, and the redaction that emptied an event.
 */
export async function toClientEvents(db: Knex, events: StoredEvent[], viewer: Viewer, opts: { withRoomId: boolean }): Promise<ClientEvent[]> {
  const redactionIds = [...new Set(events.map((e) => e.redactedBy).filter((id): id is string => id !== null))];
  const redactions = new Map<string, ClientEvent>();
  if (redactionIds.length > 0) {
    const stored = await eventsRepo.findEventsByIds(db, redactionIds);
    for (const r of stored) redactions.set(r.pdu.event_id, toClientEvent(r, viewer, { withRoomId: true }));
  }
  return events.map((e) => toClientEvent(e, viewer, opts, e.redactedBy ? redactions.get(e.redactedBy) : undefined));
}

export function toClientEvent(e: StoredEvent, viewer: Viewer, opts: { withRoomId: boolean }, redactedBecause?: ClientEvent): ClientEvent {
  const p = e.pdu;
  const unsigned: Record<string, unknown> = { age: Math.max(0, Date.now() - p.origin_server_ts) };
  const stored = p.unsigned ?? {};
  if (p.state_key !== undefined && stored.prev_content !== undefined) {
    unsigned.prev_content = stored.prev_content;
    unsigned.replaces_state = stored.replaces_state;
    unsigned.prev_sender = stored.prev_sender;
  }
  if (e.txn && p.sender === viewer.userId && e.txn.deviceId === viewer.deviceId) unsigned.transaction_id = e.txn.txnId;
  if (redactedBecause) unsigned.redacted_because = redactedBecause;
  const out: ClientEvent = {
    type: p.type,
    content: p.content,
    event_id: p.event_id,
    sender: p.sender,
    origin_server_ts: p.origin_server_ts,
    unsigned,
  };
  if (opts.withRoomId) out.room_id = p.room_id;
  if (p.state_key !== undefined) out.state_key = p.state_key;
  const redacts = p.redacts ?? (p.type === 'm.room.redaction' && typeof p.content.redacts === 'string' ? p.content.redacts : undefined);
  if (p.type === 'm.room.redaction' && redacts) {
    // Clients of either room version read it at the top level or in content.
    out.redacts = redacts;
    if (out.content.redacts === undefined) out.content = { ...out.content, redacts };
  }
  return out;
}

/** Stripped state, as shown with invites: just enough to render the room. */
export function strippedState(e: StoredEvent): Record<string, unknown> {
  return { type: e.pdu.type, state_key: e.pdu.state_key ?? '', content: e.pdu.content, sender: e.pdu.sender };
}
