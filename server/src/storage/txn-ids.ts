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

export interface TxnKey {
  user_id: string;
  device_id: string;
  txn_id: string;
}

const keyOf = (k: TxnKey) => JSON.stringify([k.user_id, k.device_id, k.txn_id]);

/** The events recorded for several transactions, in one query: key (see `txnKeyString`) to event id. */
export async function findTxns(db: Knex, keys: TxnKey[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (keys.length === 0) return out;
  const result = await db.raw(
    `SELECT t.user_id, t.device_id, t.txn_id, t.event_id
     FROM jsonb_to_recordset(?::jsonb) AS k(user_id text, device_id text, txn_id text)
     JOIN txn_ids t ON t.user_id = k.user_id AND t.device_id = k.device_id AND t.txn_id = k.txn_id`,
    [JSON.stringify(keys)],
  );
  for (const row of result.rows as Array<TxnKey & { event_id: string }>) out.set(keyOf(row), row.event_id);
  return out;
}

/** Records several transactions in one statement; returns the keys actually inserted (others were recorded concurrently). */
export async function insertTxns(trx: Knex.Transaction, rows: Array<TxnKey & { event_id: string; created_ts: number }>): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await trx('txn_ids').insert(rows).onConflict(['user_id', 'device_id', 'txn_id']).ignore().returning(['user_id', 'device_id', 'txn_id']);
  return new Set((inserted as TxnKey[]).map(keyOf));
}

/** The identity of a transaction key, as findTxns and insertTxns report it. */
export const txnKeyString = keyOf;
