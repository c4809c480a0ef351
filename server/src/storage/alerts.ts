import type { Knex } from 'knex';

export interface AlertRow {
  alert_id: string;
  sender: string;
  severity: 'info' | 'warning' | 'critical';
  title: string;
  body: string;
  drill: boolean;
  state: 'active' | 'closed' | 'cancelled' | 'expired';
  audience: string[];
  escalation: Array<{ after_s: number; channels: string[] }>;
  rollcall: { question: string; answers: string[] } | null;
  room_id: string | null;
  event_id: string | null;
  created_ts: number;
  expires_ts: number;
  closed_ts: number | null;
  feed_pos?: number | null;
}

export interface RecipientRow {
  alert_id: string;
  user_id: string;
  reply_code: string;
  acknowledged_ts: number | null;
  ack_channel: string | null;
  rollcall_answer: string | null;
  ack_pos?: number | null;
}

function parse(row: Record<string, unknown>): AlertRow {
  const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
  return { ...(row as unknown as AlertRow), audience: json(row.audience), escalation: json(row.escalation), rollcall: json(row.rollcall) ?? null };
}

export async function insertAlert(trx: Knex, alert: AlertRow): Promise<void> {
  await trx('alerts').insert({
    ...alert,
    audience: JSON.stringify(alert.audience),
    escalation: JSON.stringify(alert.escalation),
    rollcall: alert.rollcall ? JSON.stringify(alert.rollcall) : null,
  });
}

export async function findAlert(db: Knex, alertId: string): Promise<AlertRow | undefined> {
  const row = await db('alerts').where({ alert_id: alertId }).first();
  return row ? parse(row) : undefined;
}

export async function listAlerts(db: Knex, opts: { limit: number; before?: number | undefined; userId?: string | undefined }): Promise<AlertRow[]> {
  let q = db('alerts').orderBy('created_ts', 'desc').limit(opts.limit);
  if (opts.before !== undefined) q = q.where('created_ts', '<', opts.before);
  if (opts.userId) {
    const userId = opts.userId;
    q = q.where((w) => w.where('sender', userId).orWhereExists(db('alert_recipients as r').whereRaw('r.alert_id = alerts.alert_id').where('r.user_id', userId)));
  }
  return (await q).map(parse);
}

export async function setAlertState(db: Knex, alertId: string, state: AlertRow['state'], closedTs: number): Promise<boolean> {
  return (await db('alerts').where({ alert_id: alertId, state: 'active' }).update({ state, closed_ts: closedTs })) > 0;
}

export async function setAlertEvent(db: Knex, alertId: string, roomId: string, eventId: string): Promise<void> {
  await db('alerts').where({ alert_id: alertId }).update({ room_id: roomId, event_id: eventId });
}

/** One statement per 10,000 rows, as one JSON document (see insertDeliveries): a fan-out writes thousands. */
export async function insertRecipients(trx: Knex, rows: RecipientRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 10_000) {
    await trx.raw(
      `INSERT INTO alert_recipients (alert_id, user_id, reply_code, acknowledged_ts, ack_channel, rollcall_answer)
       SELECT t.alert_id, t.user_id, t.reply_code, t.acknowledged_ts, t.ack_channel, t.rollcall_answer
       FROM jsonb_to_recordset(?::jsonb) AS t(alert_id text, user_id text, reply_code text, acknowledged_ts bigint, ack_channel text, rollcall_answer text)`,
      [JSON.stringify(rows.slice(i, i + 10_000))],
    );
  }
}

export async function recipientsOf(db: Knex, alertId: string): Promise<RecipientRow[]> {
  return db('alert_recipients').where({ alert_id: alertId }).orderBy('user_id');
}

export async function findRecipient(db: Knex, alertId: string, userId: string): Promise<RecipientRow | undefined> {
  return db('alert_recipients').where({ alert_id: alertId, user_id: userId }).first();
}

/** Records the first acknowledgement; false when the recipient had already acknowledged. */
export async function markAcknowledged(trx: Knex, alertId: string, userId: string, channel: string, ts: number, answer?: string): Promise<boolean> {
  const update: Record<string, unknown> = { acknowledged_ts: ts, ack_channel: channel };
  if (answer !== undefined) update.rollcall_answer = answer;
  return (await trx('alert_recipients').where({ alert_id: alertId, user_id: userId }).whereNull('acknowledged_ts').update(update)) > 0;
}

export async function setRollcallAnswer(trx: Knex, alertId: string, userId: string, answer: string): Promise<void> {
  await trx('alert_recipients').where({ alert_id: alertId, user_id: userId }).update({ rollcall_answer: answer });
}

/** The recipient's latest unacknowledged alert still active, optionally matching a reply code. */
export async function latestPendingFor(db: Knex, userIds: string[], replyCode?: string): Promise<RecipientRow | undefined> {
  if (userIds.length === 0) return undefined;
  let q = db('alert_recipients as r')
    .join('alerts as a', 'a.alert_id', 'r.alert_id')
    .whereIn('r.user_id', userIds)
    .whereNull('r.acknowledged_ts')
    .where('a.state', 'active')
    .orderBy('a.created_ts', 'desc')
    .select('r.*');
  if (replyCode) q = q.where('r.reply_code', replyCode);
  return q.first();
}

/** Moves the alert to a new feed position (inside the transaction that took it). */
export async function setFeedPos(trx: Knex, alertId: string, pos: number): Promise<void> {
  await trx('alerts').where({ alert_id: alertId }).update({ feed_pos: pos });
}

export async function setAckPos(trx: Knex, alertId: string, userId: string, pos: number): Promise<void> {
  await trx('alert_recipients').where({ alert_id: alertId, user_id: userId }).update({ ack_pos: pos });
}

export interface FeedRow {
  alert_id: string;
  severity: string;
  title: string;
  body: string;
  drill: boolean;
  state: string;
  created_ts: number;
  expires_ts: number;
  rollcall: unknown;
  reply_code: string;
  acknowledged_ts: number | null;
  rollcall_answer: string | null;
  /** Where the alert itself was last created or changed (state); acks move `pos` only. */
  feed_pos: number;
  pos: number;
}

/** A user's alerts created, changed or acknowledged after `after`, oldest change first. */
export async function feedOf(db: Knex, userId: string, after: number, upTo: number, limit: number, newestFirst = false): Promise<FeedRow[]> {
  const rows = await db('alert_recipients as r')
    .join('alerts as a', 'a.alert_id', 'r.alert_id')
    .where('r.user_id', userId)
    .whereNotNull('a.feed_pos')
    .where((q) => q.where('a.feed_pos', '>', after).orWhere('r.ack_pos', '>', after))
    .select(
      'a.alert_id', 'a.severity', 'a.title', 'a.body', 'a.drill', 'a.state', 'a.created_ts', 'a.expires_ts', 'a.rollcall',
      'r.reply_code', 'r.acknowledged_ts', 'r.rollcall_answer', 'a.feed_pos',
      db.raw('GREATEST(a.feed_pos, COALESCE(r.ack_pos, 0)) AS pos'),
    )
    .orderBy('pos', newestFirst ? 'desc' : 'asc')
    .limit(limit);
  const out = (rows as FeedRow[])
    .map((r) => ({ ...r, pos: Number(r.pos), feed_pos: Number(r.feed_pos), created_ts: Number(r.created_ts), acknowledged_ts: r.acknowledged_ts === null ? null : Number(r.acknowledged_ts) }))
    .filter((r) => r.pos <= upTo);
  return newestFirst ? out.reverse() : out;
}
