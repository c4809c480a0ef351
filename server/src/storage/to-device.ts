import type { Knex } from 'knex';

export interface ToDeviceRow {
  user_id: string;
  device_id: string;
  stream_pos: number;
  seq: number;
  sender: string;
  type: string;
  content: Record<string, unknown>;
}

/** The devices of each of the users (users without devices are left out). */
export async function devicesOf(db: Knex, userIds: string[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (let i = 0; i < userIds.length; i += 1000) {
    const rows = await db('devices').whereIn('user_id', userIds.slice(i, i + 1000)).select('user_id', 'device_id');
    for (const r of rows as Array<{ user_id: string; device_id: string }>) {
      let set = out.get(r.user_id);
      if (!set) out.set(r.user_id, (set = new Set()));
      set.add(r.device_id);
    }
  }
  return out;
}

/** Records a sender's transaction; false when it was seen before (the send is then a no-op). */
export async function claimTxn(trx: Knex.Transaction, userId: string, deviceId: string, txnId: string, now: number): Promise<boolean> {
  const rows = await trx('to_device_txns').insert({ user_id: userId, device_id: deviceId, txn_id: txnId, created_ts: now }).onConflict(['user_id', 'device_id', 'txn_id']).ignore().returning('txn_id');
  return rows.length > 0;
}

export async function insertMessages(trx: Knex.Transaction, rows: ToDeviceRow[]): Promise<void> {
  // Chunked: a message to every device of a large room must stay under the bind-parameter limit.
  for (let i = 0; i < rows.length; i += 500) {
    await trx('to_device_messages').insert(rows.slice(i, i + 500).map((r) => ({ ...r, content: JSON.stringify(r.content) })));
  }
}

/** A device's messages in (after, upTo], oldest first. */
export async function messagesFor(db: Knex, userId: string, deviceId: string, after: number, upTo: number): Promise<ToDeviceRow[]> {
  const rows = await db('to_device_messages')
    .where({ user_id: userId, device_id: deviceId })
    .where('stream_pos', '>', after)
    .where('stream_pos', '<=', upTo)
    .orderBy(['stream_pos', 'seq']);
  return rows.map((r: ToDeviceRow) => ({ ...r, stream_pos: Number(r.stream_pos), content: typeof r.content === 'string' ? JSON.parse(r.content) : r.content }));
}

/** Messages the device acknowledged by syncing from a position at or after theirs. */
export async function deleteUpTo(db: Knex, userId: string, deviceId: string, pos: number): Promise<void> {
  await db('to_device_messages').where({ user_id: userId, device_id: deviceId }).where('stream_pos', '<=', pos).delete();
}

export async function pendingCount(db: Knex, userId: string, deviceIds: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (deviceIds.length === 0) return out;
  const rows = await db('to_device_messages').where({ user_id: userId }).whereIn('device_id', deviceIds).groupBy('device_id').select('device_id').count({ n: '*' });
  for (const r of rows as Array<{ device_id: string; n: string | number }>) out.set(r.device_id, Number(r.n));
  return out;
}

export async function deleteForDevices(db: Knex, userId: string, deviceIds: string[] | 'all'): Promise<void> {
  for (const table of ['to_device_messages', 'to_device_txns']) {
    const q = db(table).where({ user_id: userId });
    await (deviceIds === 'all' ? q : q.whereIn('device_id', deviceIds)).delete();
  }
}
