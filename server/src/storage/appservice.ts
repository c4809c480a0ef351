import type { Knex } from 'knex';
import { fromRow, type EventRow, type StoredEvent } from './events.ts';

// Application services: transaction progress per service (see migration 007).

export interface AppserviceState {
  as_id: string;
  stream_pos: number;
  next_txn_id: number;
  pending_event_ids: string[] | null;
  pending_up_to: number | null;
  attempts: number;
  due_ts: number;
}

function state(r: Record<string, unknown>): AppserviceState {
  const pending = r.pending_event_ids;
  return {
    as_id: String(r.as_id),
    stream_pos: Number(r.stream_pos),
    next_txn_id: Number(r.next_txn_id),
    pending_event_ids: pending === null || pending === undefined ? null : ((typeof pending === 'string' ? JSON.parse(pending) : pending) as string[]),
    pending_up_to: r.pending_up_to === null ? null : Number(r.pending_up_to),
    attempts: Number(r.attempts),
    due_ts: Number(r.due_ts),
  };
}

/** A service seen for the first time starts at the current end of the stream. */
export async function ensureStates(db: Knex, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.raw(
    `INSERT INTO appservice_state (as_id, stream_pos)
     SELECT v.id, (SELECT pos FROM stream_head WHERE id = 1) FROM (VALUES ${ids.map(() => '(?::text)').join(', ')}) AS v(id)
     ON CONFLICT (as_id) DO NOTHING`,
    ids,
  );
}

/**
 * Claims the services whose next transaction is due (FOR UPDATE SKIP LOCKED, then a lease):
 * one sender per service at a time across nodes, and a dead node's lease runs out.
 */
export async function claimDue(db: Knex, ids: string[], now: number, leaseMs: number): Promise<AppserviceState[]> {
  if (ids.length === 0) return [];
  const result = await db.raw(
    `UPDATE appservice_state SET lease_until = ?
     WHERE as_id IN (
       SELECT as_id FROM appservice_state
       WHERE as_id IN (${ids.map(() => '?').join(', ')}) AND due_ts <= ? AND (lease_until IS NULL OR lease_until < ?)
       FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [now + leaseMs, ...ids, now, now],
  );
  return (result.rows as Array<Record<string, unknown>>).map(state);
}

export async function eventsAfter(db: Knex, after: number, limit: number): Promise<StoredEvent[]> {
  const rows = await db('events').where('stream_pos', '>', after).orderBy('stream_pos').limit(limit).select('stream_pos', 'json', 'redacted_by', 'sender_device', 'txn_id');
  return (rows as EventRow[]).map(fromRow);
}

/** Fixes the content of the next transaction before it is sent. */
export async function setPending(db: Knex, asId: string, eventIds: string[], upTo: number): Promise<void> {
  await db('appservice_state').where({ as_id: asId }).update({ pending_event_ids: JSON.stringify(eventIds), pending_up_to: upTo });
}

/** Nothing of interest up to `upTo`: move on without a transaction. */
export async function skipTo(db: Knex, asId: string, upTo: number): Promise<void> {
  await db('appservice_state').where({ as_id: asId }).update({ stream_pos: upTo, lease_until: null });
}

export async function acknowledged(db: Knex, asId: string, txnId: number, upTo: number): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('appservice_edus').where({ as_id: asId, txn_id: txnId }).delete();
    await trx('appservice_state')
      .where({ as_id: asId })
      .update({ stream_pos: upTo, next_txn_id: db.raw('next_txn_id + 1'), pending_event_ids: null, pending_up_to: null, attempts: 0, due_ts: 0, lease_until: null, last_error: null });
  });
}

export async function failed(db: Knex, asId: string, dueTs: number, error: string): Promise<void> {
  await db('appservice_state')
    .where({ as_id: asId })
    .update({ attempts: db.raw('attempts + 1'), due_ts: dueTs, lease_until: null, last_error: error.slice(0, 500) });
}

export async function release(db: Knex, asId: string): Promise<void> {
  await db('appservice_state').where({ as_id: asId }).update({ lease_until: null });
}

/** Queues an ephemeral event for the next transaction of each service. */
export async function queueEdu(db: Knex, asIds: string[], edu: Record<string, unknown>): Promise<void> {
  if (asIds.length === 0) return;
  const json = JSON.stringify(edu);
  await db('appservice_edus').insert(asIds.map((as_id) => ({ as_id, edu: json })));
}

/**
 * Gives the oldest waiting ephemeral events of a service (at most `limit`) to transaction
 * `txnId`; those it already holds (taken before a crash) stay with it. One statement, as every
 * node's idle pass runs it. Returns how many the transaction holds.
 */
export async function takeEdus(db: Knex, asId: string, txnId: number, limit: number): Promise<number> {
  const result = await db.raw(
    `UPDATE appservice_edus SET txn_id = ? WHERE id IN (
       SELECT id FROM appservice_edus WHERE as_id = ? AND (txn_id IS NULL OR txn_id = ?) ORDER BY id LIMIT ?)
     RETURNING id`,
    [txnId, asId, txnId, limit],
  );
  return (result.rows as unknown[]).length;
}

/** Drops the oldest waiting ephemeral events beyond `keep`: a service that is down must not grow the table without end. */
export async function trimEdus(db: Knex, asId: string, keep: number): Promise<void> {
  await db.raw(
    `DELETE FROM appservice_edus WHERE as_id = ? AND txn_id IS NULL AND id < (
       SELECT id FROM appservice_edus WHERE as_id = ? AND txn_id IS NULL ORDER BY id DESC OFFSET ? LIMIT 1)`,
    [asId, asId, keep - 1],
  );
}

/** The ephemeral events of transaction `txnId` of a service, oldest first. */
export async function edusOf(db: Knex, asId: string, txnId: number): Promise<Array<Record<string, unknown>>> {
  const rows = await db('appservice_edus').where({ as_id: asId, txn_id: txnId }).orderBy('id').select('edu');
  return (rows as Array<{ edu: unknown }>).map((r) => (typeof r.edu === 'string' ? JSON.parse(r.edu) : r.edu) as Record<string, unknown>);
}

/** Members (joined or invited) of the rooms, for "rooms where the service has users". */
export async function membersOfRooms(db: Knex, roomIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (roomIds.length === 0) return out;
  const rows = await db('memberships').whereIn('room_id', roomIds).whereIn('membership', ['join', 'invite']).select('room_id', 'user_id');
  for (const r of rows as Array<{ room_id: string; user_id: string }>) out.set(r.room_id, [...(out.get(r.room_id) ?? []), r.user_id]);
  return out;
}

export async function aliasesOfRooms(db: Knex, roomIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (roomIds.length === 0) return out;
  const rows = await db('room_aliases').whereIn('room_id', roomIds).select('room_id', 'alias');
  for (const r of rows as Array<{ room_id: string; alias: string }>) out.set(r.room_id, [...(out.get(r.room_id) ?? []), r.alias]);
  return out;
}
