import type { Knex } from 'knex';

// The timed steps of an alert, one row per step (migration 013). A step's delivery rows are
// written when it falls due, for the recipients still unacknowledged at that moment; the rows
// of recipients held by quiet hours are written at creation (their times differ), and the
// unique (alert_id, user_id, step, channel) key keeps a step from being written twice.

export type StepState = 'pending' | 'expanded' | 'cancelled';

export interface StepRow {
  alert_id: string;
  step: number;
  due_ts: number;
  state: StepState;
}

export async function insertSteps(trx: Knex, rows: StepRow[]): Promise<void> {
  if (rows.length > 0) await trx('alert_steps').insert(rows);
}

/**
 * Writes one step's deliveries (one per channel) for every unacknowledged recipient of the
 * alert who has none for it yet. Idempotent: a second run adds nothing.
 */
export async function expandStep(trx: Knex, alertId: string, step: number, channels: readonly string[], dueTs: number, now: number): Promise<void> {
  await trx.raw(
    `INSERT INTO alert_deliveries (alert_id, user_id, step, channel, state, due_ts, updated_ts, attempts)
     SELECT r.alert_id, r.user_id, ?::int, c.channel, 'pending', ?::bigint, ?::bigint, 0
     FROM alert_recipients r CROSS JOIN jsonb_array_elements_text(?::jsonb) AS c(channel)
     WHERE r.alert_id = ? AND r.acknowledged_ts IS NULL
     ORDER BY r.user_id, c.channel
     ON CONFLICT (alert_id, user_id, step, channel) DO NOTHING`,
    [step, dueTs, now, JSON.stringify(channels), alertId],
  );
}

/**
 * Claims one step that has fallen due (FOR UPDATE SKIP LOCKED: another node expanding at the
 * same time skips it); only inside a transaction, which then expands it and marks it.
 */
export async function claimDueStep(trx: Knex, now: number): Promise<StepRow | undefined> {
  const result = await trx.raw(
    `SELECT alert_id, step, due_ts, state FROM alert_steps
     WHERE state = 'pending' AND due_ts <= ?
     ORDER BY due_ts
     LIMIT 1
     FOR UPDATE SKIP LOCKED`,
    [now],
  );
  const row = (result.rows as StepRow[])[0];
  return row ? { ...row, step: Number(row.step), due_ts: Number(row.due_ts) } : undefined;
}

export async function setStepState(trx: Knex, alertId: string, step: number, state: StepState): Promise<void> {
  await trx('alert_steps').where({ alert_id: alertId, step }).update({ state });
}

/** The alert was cancelled or closed: its steps not yet written never will be. */
export async function cancelPendingSteps(trx: Knex, alertId: string): Promise<void> {
  await trx('alert_steps').where({ alert_id: alertId, state: 'pending' }).update({ state: 'cancelled' });
}

/** The steps of an alert (none for alerts made before migration 013, whose rows are all written). */
export async function stepsOf(db: Knex, alertId: string): Promise<StepRow[]> {
  const rows: StepRow[] = await db('alert_steps').where({ alert_id: alertId }).orderBy('step');
  return rows.map((r) => ({ ...r, step: Number(r.step), due_ts: Number(r.due_ts) }));
}

/** The earliest time a step falls due, to sleep until then. */
export async function nextStepDueTs(db: Knex): Promise<number | undefined> {
  const row = await db('alert_steps').where('state', 'pending').min<{ min: number | null }>('due_ts as min').first();
  return row?.min === null || row?.min === undefined ? undefined : Number(row.min);
}
