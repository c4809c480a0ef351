import type { Knex } from 'knex';

// SMSC message_id of each submitted SMS part -> the delivery it carried (migration 013), so
// that delivery receipts find their delivery after a restart or on another node.

export interface SmsMessageIdRow {
  message_id: string;
  delivery_id: number;
  /** The first part's message_id, the one recorded as the delivery's external_id. */
  first_id: string;
  created_ts: number;
}

/** One statement for many rows; an id the SMSC hands out again (after its own restart) moves on to the new delivery. */
export async function rememberSmsMessageIds(db: Knex, rows: SmsMessageIdRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.raw(
    `INSERT INTO sms_message_ids (message_id, delivery_id, first_id, created_ts)
     SELECT t.message_id, t.delivery_id, t.first_id, t.created_ts
     FROM jsonb_to_recordset(?::jsonb) AS t(message_id text, delivery_id bigint, first_id text, created_ts bigint)
     ON CONFLICT (message_id) DO UPDATE SET delivery_id = EXCLUDED.delivery_id, first_id = EXCLUDED.first_id, created_ts = EXCLUDED.created_ts`,
    [JSON.stringify(rows)],
  );
}

export async function findSmsMessageId(db: Knex, messageId: string): Promise<SmsMessageIdRow | undefined> {
  const row = await db('sms_message_ids').where({ message_id: messageId }).first();
  return row ? { ...row, delivery_id: Number(row.delivery_id), created_ts: Number(row.created_ts) } : undefined;
}

export async function purgeSmsMessageIds(db: Knex, before: number): Promise<void> {
  await db('sms_message_ids').where('created_ts', '<', before).delete();
}
