import type { Knex } from 'knex';

// Periodic jobs shared by the nodes (see migration 017): when each is next due, and who runs it.

/** Makes the job known; a first start runs it once `firstRunTs` has come. */
export async function ensureJob(db: Knex, name: string, firstRunTs: number): Promise<void> {
  await db('periodic_jobs').insert({ name, next_run_ts: firstRunTs }).onConflict('name').ignore();
}

/**
 * Claims the job if it is due and nobody holds it (FOR UPDATE SKIP LOCKED, then a lease that
 * runs out if the holder dies). True when this caller is the one to run it.
 */
export async function claimJob(db: Knex, name: string, now: number, leaseMs: number): Promise<boolean> {
  const result = await db.raw(
    `UPDATE periodic_jobs SET lease_until = ?
     WHERE name IN (
       SELECT name FROM periodic_jobs
       WHERE name = ? AND next_run_ts <= ? AND (lease_until IS NULL OR lease_until < ?)
       FOR UPDATE SKIP LOCKED)
     RETURNING name`,
    [now + leaseMs, name, now, now],
  );
  return (result.rows as unknown[]).length === 1;
}

/** The run is over (well or not): the next one is due at `nextRunTs`. */
export async function finishJob(db: Knex, name: string, now: number, nextRunTs: number, error: string | null): Promise<void> {
  await db('periodic_jobs').where({ name }).update({ next_run_ts: nextRunTs, lease_until: null, last_run_ts: now, last_error: error?.slice(0, 500) ?? null });
}

export async function findJob(db: Knex, name: string): Promise<{ next_run_ts: number; last_run_ts: number | null; last_error: string | null } | undefined> {
  const row = await db('periodic_jobs').where({ name }).first('next_run_ts', 'last_run_ts', 'last_error');
  if (!row) return undefined;
  return { next_run_ts: Number(row.next_run_ts), last_run_ts: row.last_run_ts === null ? null : Number(row.last_run_ts), last_error: row.last_error };
}
