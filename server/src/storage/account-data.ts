import type { Knex } from 'knex';

export interface AccountDataRow {
  user_id: string;
  room_id: string; // '' for global
  type: string;
  content: Record<string, unknown>;
  stream_pos: number;
}

function parse(row: AccountDataRow): AccountDataRow {
  return { ...row, content: typeof row.content === 'string' ? JSON.parse(row.content) : row.content };
}

export async function upsertAccountData(trx: Knex.Transaction, row: AccountDataRow): Promise<void> {
  await trx('account_data')
    .insert({ ...row, content: JSON.stringify(row.content) })
    .onConflict(['user_id', 'room_id', 'type'])
    .merge(['content', 'stream_pos']);
}

export async function findAccountData(db: Knex, userId: string, roomId: string, type: string): Promise<AccountDataRow | undefined> {
  const row = await db('account_data').where({ user_id: userId, room_id: roomId, type }).first();
  return row ? parse(row) : undefined;
}

/** Inserts the row unless one exists (waits for a concurrent insert of it to end). */
export async function insertAccountDataIfMissing(trx: Knex.Transaction, row: AccountDataRow): Promise<void> {
  await trx('account_data')
    .insert({ ...row, content: JSON.stringify(row.content) })
    .onConflict(['user_id', 'room_id', 'type'])
    .ignore();
}

/** The row, locked until the transaction ends (read-modify-write of one account data type). */
export async function findAccountDataForUpdate(trx: Knex.Transaction, userId: string, roomId: string, type: string): Promise<AccountDataRow | undefined> {
  const row = await trx('account_data').where({ user_id: userId, room_id: roomId, type }).forUpdate().first();
  return row ? parse(row) : undefined;
}

/** Account data of a user changed in (after, upTo]; after = -1 for all of it. */
export async function accountDataBetween(db: Knex, userId: string, after: number, upTo: number): Promise<AccountDataRow[]> {
  const rows = await db('account_data').where({ user_id: userId }).where('stream_pos', '>', after).where('stream_pos', '<=', upTo).orderBy('stream_pos');
  return rows.map(parse);
}
