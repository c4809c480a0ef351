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
  /** The last recipient (user_id order) whose rows are written; '' before the first chunk. */
  cursor: string;
}

export async function insertSteps(trx: Knex, rows: StepRow[]): Promise<void> {
  if (rows.length > 0) await trx('alert_steps').insert(rows);
}

/**
 * Writes one step's deliveries (one per channel) for the next `limit` recipients after the
 * step's cursor (user_id order) who have not acknowledged and have none for it yet, and moves
 * the cursor, or marks the step expanded after the last chunk. Inside the transaction that
 * claimed the step: the rows and the cursor commit together. Returns whether rows remain.
 */
export async function expandStepChunk(trx: Knex, step: StepRow, channels: readonly string[], now: number, limit: number): Promise<boolean> {
  // The last recipient of this chunk; none when the rest fits in it.
  const boundary = await trx.raw(
    'SELECT user_id FROM alert_recipients WHERE alert_id = ? AND user_id > ? ORDER BY user_id OFFSET ? LIMIT 1',
    [step.alert_id, step.cursor, limit - 1],
  );
  const upTo = (boundary.rows as { user_id: string }[])[0]?.user_id ?? null;
  await trx.raw(
    `INSERT INTO alert_deliveries (alert_id, user_id, step, channel, state, due_ts, updated_ts, attempts)
     SELECT r.alert_id, r.user_id, ?::int, c.channel, 'pending', ?::bigint, ?::bigint, 0
     FROM alert_recipients r CROSS JOIN jsonb_array_elements_text(?::jsonb) AS c(channel)
     WHERE r.alert_id = ? AND r.user_id > ? AND (?::text IS NULL OR r.user_id <= ?::text) AND r.acknowledged_ts IS NULL
     ORDER BY r.user_id, c.channel
     ON CONFLICT (alert_id, user_id, step, channel) DO NOTHING`,
    [step.step, step.due_ts, now, JSON.stringify(channels), step.alert_id, step.cursor, upTo, upTo],
  );
  const update = upTo === null ? { state: 'expanded', cursor: step.cursor } : { cursor: upTo };
  await trx('alert_steps').where({ alert_id: step.alert_id, step: step.step }).update(update);
  return upTo !== null;
}

/**
 * Claims one step that has fallen due (FOR UPDATE SKIP LOCKED: another node expanding at the
 * same time skips it); only inside a transaction, which then expands it and marks it.
 */
export async function claimDueStep(trx: Knex, now: number): Promise<StepRow | undefined> {
  const result = await trx.raw(
    `SELECT alert_id, step, due_ts, state, cursor FROM alert_steps
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
