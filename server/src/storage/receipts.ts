import type { Knex } from 'knex';

export interface ReceiptRow {
  room_id: string;
  user_id: string;
  receipt_type: string;
  thread_id: string; // '' when unthreaded
  event_id: string;
  event_stream_pos: number;
  ts: number;
  stream_pos: number;
}

export async function upsertReceipt(trx: Knex.Transaction, row: ReceiptRow): Promise<void> {
  await trx('receipts')
    .insert(row)
    .onConflict(['room_id', 'user_id', 'receipt_type', 'thread_id'])
    .merge(['event_id', 'event_stream_pos', 'ts', 'stream_pos']);
}

export async function findReceipt(db: Knex, roomId: string, userId: string, type: string, threadId: string): Promise<ReceiptRow | undefined> {
  return db('receipts').where({ room_id: roomId, user_id: userId, receipt_type: type, thread_id: threadId }).first();
}

/** Receipts of the rooms changed in (after, upTo]; after = -1 for the latest of everybody. */
export async function receiptsBetween(db: Knex, roomIds: string[], after: number, upTo: number): Promise<ReceiptRow[]> {
  if (roomIds.length === 0) return [];
  return db('receipts').whereIn('room_id', roomIds).where('stream_pos', '>', after).where('stream_pos', '<=', upTo).orderBy('stream_pos');
}

/** The stream position of the event a user last read in each room (m.read or m.read.private). */
export async function readUpTo(db: Knex, userId: string, roomIds: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (roomIds.length === 0) return out;
  const rows = await db('receipts')
    .where({ user_id: userId })
    .whereIn('room_id', roomIds)
    .whereIn('receipt_type', ['m.read', 'm.read.private'])
    .groupBy('room_id')
    .select('room_id')
    .max<{ room_id: string; pos: number }[]>('event_stream_pos as pos');
  for (const r of rows) out.set(r.room_id, Number(r.pos));
  return out;
}
