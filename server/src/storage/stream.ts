import type { Knex } from 'knex';

/**
 * Stream positions. Every change a /sync must see takes the next position from the single
 * row of stream_head, inside the transaction that writes the change. The row lock is held
 * until that transaction commits, so positions commit in order: once position N is
 * committed, every position below N is committed too, and a reader that has seen N can never
 * miss a lower one later. This holds across processes sharing one PostgreSQL.
 * Take the position as late as possible in a transaction: it serialises writers until commit.
 */
export async function nextStreamPos(trx: Knex.Transaction): Promise<number> {
  const rows = await trx('stream_head').where({ id: 1 }).increment('pos', 1).returning('pos');
  return Number((rows[0] as { pos: number }).pos);
}

/** The highest committed position: everything at or below it is visible. */
export async function currentStreamPos(db: Knex): Promise<number> {
  const row = await db('stream_head').where({ id: 1 }).first('pos');
  return Number(row?.pos ?? 0);
}
