import type { Knex } from 'knex';

export async function findTxn(db: Knex, userId: string, deviceId: string, txnId: string): Promise<string | undefined> {
  const row = await db('txn_ids').where({ user_id: userId, device_id: deviceId, txn_id: txnId }).first('event_id');
  return row?.event_id;
}

/** Records the event a transaction produced; false when the same txn was recorded concurrently. */
export async function insertTxn(trx: Knex.Transaction, row: { user_id: string; device_id: string; txn_id: string; event_id: string; created_ts: number }): Promise<boolean> {
  const rows = await trx('txn_ids').insert(row).onConflict(['user_id', 'device_id', 'txn_id']).ignore().returning('event_id');
  return rows.length > 0;
}
