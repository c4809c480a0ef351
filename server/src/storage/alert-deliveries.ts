import type { Knex } from 'knex';

export type DeliveryState = 'pending' | 'held' | 'sending' | 'sent' | 'delivered' | 'failed' | 'cancelled';

export interface DeliveryRow {
  id: number;
  alert_id: string;
  user_id: string;
  step: number;
  channel: string;
  state: DeliveryState;
  due_ts: number;
  lease_until: number | null;
  attempts: number;
  last_error: string | null;
  external_id: string | null;
  sent_ts: number | null;
  updated_ts: number;
}

export type NewDelivery = Pick<DeliveryRow, 'alert_id' | 'user_id' | 'step' | 'channel' | 'state' | 'due_ts'>;

/**
 * One statement per 10,000 rows, sent as one JSON document that the database unpacks: a
 * 10,000-recipient alert writes 30,000 rows, and a multi-row VALUES list of that size costs
 * more to build, send and parse (eight bound parameters a row) than the insert itself.
 */
export async function insertDeliveries(trx: Knex, rows: NewDelivery[], now: number): Promise<void> {
  for (let i = 0; i < rows.length; i += 10_000) {
    await trx.raw(
      `INSERT INTO alert_deliveries (alert_id, user_id, step, channel, state, due_ts, updated_ts, attempts)
       SELECT t.alert_id, t.user_id, t.step, t.channel, t.state, t.due_ts, ?::bigint, 0
       FROM jsonb_to_recordset(?::jsonb) AS t(alert_id text, user_id text, step int, channel text, state text, due_ts bigint)`,
      [now, JSON.stringify(rows.slice(i, i + 10_000))],
    );
  }
}

/**
 * Claims due work for this worker: pending or held steps whose time has come, and steps whose
 * worker died mid-dispatch (lease expired). SKIP LOCKED lets several nodes claim side by side.
 */
export async function claimDue(db: Knex, now: number, leaseMs: number, limit: number): Promise<DeliveryRow[]> {
  const result = await db.raw(
    `UPDATE alert_deliveries SET state = 'sending', lease_until = ?, attempts = attempts + 1, updated_ts = ?
     WHERE id IN (
       SELECT id FROM alert_deliveries
       WHERE (state IN ('pending', 'held') AND due_ts <= ?) OR (state = 'sending' AND lease_until < ?)
       ORDER BY due_ts, id
       LIMIT ?
       FOR UPDATE SKIP LOCKED)
     RETURNING id, alert_id, user_id, step, channel, due_ts, attempts, last_error`,
    [now + leaseMs, now, now, now, limit],
  );
  // Only what a dispatch needs: a fan-out claims thousands of rows, each parsed on the main thread.
  const leaseUntil = now + leaseMs;
  return (result.rows as DeliveryRow[]).map((r) => ({
    id: Number(r.id), alert_id: r.alert_id, user_id: r.user_id, step: r.step, channel: r.channel, state: 'sending', due_ts: Number(r.due_ts),
    lease_until: leaseUntil, attempts: Number(r.attempts), last_error: r.last_error, external_id: null, sent_ts: null, updated_ts: now,
  }));
}

function numeric(r: DeliveryRow): DeliveryRow {
  return { ...r, id: Number(r.id), due_ts: Number(r.due_ts), attempts: Number(r.attempts) };
}

/** Moves a claimed delivery on; only while this worker still holds it (state 'sending'). */
export async function finishDelivery(
  db: Knex,
  id: number,
  update: { state: DeliveryState; due_ts?: number; last_error?: string | null; external_id?: string | null; sent_ts?: number | null },
  now: number,
): Promise<void> {
  await db('alert_deliveries').where({ id, state: 'sending' }).update({ ...update, lease_until: null, updated_ts: now });
}

/** Stops every step not yet dispatched for these recipients (acknowledged, cancelled alert). */
export async function cancelOpen(trx: Knex, alertId: string, userIds: string[] | 'all', now: number): Promise<number> {
  let q = trx('alert_deliveries').where({ alert_id: alertId }).whereIn('state', ['pending', 'held']);
  if (userIds !== 'all') q = q.whereIn('user_id', userIds);
  return q.update({ state: 'cancelled', updated_ts: now });
}

export async function deliveriesOf(db: Knex, alertId: string): Promise<DeliveryRow[]> {
  return (await db('alert_deliveries').where({ alert_id: alertId }).orderBy(['user_id', 'step', 'channel'])).map(numeric);
}

export async function findDelivery(db: Knex, id: number): Promise<DeliveryRow | undefined> {
  const row = await db('alert_deliveries').where({ id }).first();
  return row ? numeric(row) : undefined;
}

export async function findByExternalId(db: Knex, channel: string, externalId: string): Promise<DeliveryRow | undefined> {
  const row = await db('alert_deliveries').where({ channel, external_id: externalId }).first();
  return row ? numeric(row) : undefined;
}

/** A delivery receipt: sent -> delivered (or failed). */
export async function markReceipt(db: Knex, id: number, ok: boolean, detail: string | undefined, now: number): Promise<void> {
  await db('alert_deliveries')
    .where({ id })
    .whereIn('state', ['sent', 'sending'])
    .update(ok ? { state: 'delivered', updated_ts: now } : { state: 'failed', last_error: detail ?? 'not delivered', updated_ts: now });
}

/** The earliest time some work becomes due, to sleep until then. */
export async function nextDueTs(db: Knex): Promise<number | undefined> {
  const row = await db('alert_deliveries').whereIn('state', ['pending', 'held']).min<{ min: number | null }>('due_ts as min').first();
  return row?.min === null || row?.min === undefined ? undefined : Number(row.min);
}

/** Marks many claimed deliveries sent at once (the common outcome of a fan-out). */
export async function markSent(db: Knex, ids: number[], now: number): Promise<void> {
  for (let i = 0; i < ids.length; i += 5000) {
    await db('alert_deliveries')
      .whereIn('id', ids.slice(i, i + 5000))
      .where('state', 'sending')
      .update({ state: 'sent', sent_ts: now, lease_until: null, updated_ts: now });
  }
}
