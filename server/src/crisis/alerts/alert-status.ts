import type { AlertRow, RecipientRow } from '../../storage/alerts.ts';
import type { DeliveryRow } from '../../storage/alert-deliveries.ts';
import type { StepRow } from '../../storage/alert-steps.ts';

/** Delivery states as the API shows them: 'sending' is an internal claim, shown as pending. */
function publicState(d: DeliveryRow): string {
  return d.state === 'sending' ? 'pending' : d.state;
}

export function alertState(alert: AlertRow, recipients: RecipientRow[], now: number): string {
  if (alert.state !== 'active') return alert.state;
  if (alert.expires_ts <= now) return 'expired';
  if (recipients.length > 0 && recipients.every((r) => r.acknowledged_ts !== null)) return 'acknowledged';
  return 'active';
}

/** The JSON of GET /_tocsin/v1/alerts/{id}. */
export function alertStatusJson(
  alert: AlertRow,
  recipients: RecipientRow[],
  deliveries: DeliveryRow[],
  steps: StepRow[] = [],
  now = Date.now(),
): Record<string, unknown> {
  const byUser = new Map<string, DeliveryRow[]>();
  for (const d of deliveries) {
    const list = byUser.get(d.user_id);
    if (list) list.push(d);
    else byUser.set(d.user_id, [d]);
  }
  if (steps.length > 0) addPlannedSteps(alert, recipients, byUser, steps, now);
  const acknowledged = recipients.filter((r) => r.acknowledged_ts !== null);
  return {
    alert_id: alert.alert_id,
    state: alertState(alert, recipients, now),
    severity: alert.severity,
    title: alert.title,
    body: alert.body,
    drill: alert.drill,
    sender: alert.sender,
    audience: alert.audience,
    escalation: alert.escalation,
    ...(alert.rollcall ? { rollcall: rollcallResults(alert.rollcall, recipients) } : {}),
    created_at: alert.created_ts,
    expires_at: alert.expires_ts,
    counts: {
      recipients: recipients.length,
      acknowledged: acknowledged.length,
      pending: recipients.length - acknowledged.length,
      by_channel: countBy(acknowledged.map((r) => r.ack_channel ?? 'app')),
      ...timeToAck(acknowledged.map((r) => r.acknowledged_ts! - alert.created_ts)),
    },
    recipients: recipients.map((r) => ({
      user_id: r.user_id,
      acknowledged_at: r.acknowledged_ts,
      ack_channel: r.ack_channel,
      ...(r.acknowledged_ts !== null ? { time_to_ack_ms: r.acknowledged_ts - alert.created_ts } : {}),
      ...(r.rollcall_answer !== null ? { rollcall_answer: r.rollcall_answer } : {}),
      deliveries: (byUser.get(r.user_id) ?? []).map((d) => ({
        channel: d.channel,
        step: d.step,
        state: publicState(d),
        at: d.state === 'pending' || d.state === 'held' ? d.due_ts : (d.sent_ts ?? d.updated_ts),
        ...(d.last_error ? { error: d.last_error } : {}),
      })),
    })),
  };
}

/**
 * A later step's rows are written when it falls due, only for those still unacknowledged
 * (storage/alert-steps.ts). The status shows the plan as if every row were written: a step
 * not yet due is pending at its time, or cancelled for those who acknowledged and when the
 * alert is over; a step written without someone's row was cancelled by their acknowledgement.
 * Each recipient's list stays ordered by step and channel.
 */
function addPlannedSteps(alert: AlertRow, recipients: RecipientRow[], byUser: Map<string, DeliveryRow[]>, steps: StepRow[], now: number): void {
  const over = alert.state !== 'active' || alert.expires_ts <= now;
  for (const r of recipients) {
    const rows = byUser.get(r.user_id) ?? [];
    const written = new Set(rows.map((d) => d.step));
    let added = false;
    for (const s of steps) {
      if (written.has(s.step)) continue;
      const cancelled = over || s.state !== 'pending' || r.acknowledged_ts !== null;
      for (const channel of [...(alert.escalation[s.step]?.channels ?? [])].sort()) {
        rows.push({
          id: 0, alert_id: alert.alert_id, user_id: r.user_id, step: s.step, channel, state: cancelled ? 'cancelled' : 'pending',
          due_ts: s.due_ts, lease_until: null, attempts: 0, last_error: null, external_id: null, sent_ts: null,
          updated_ts: cancelled ? (r.acknowledged_ts ?? alert.closed_ts ?? s.due_ts) : s.due_ts,
        });
        added = true;
      }
    }
    if (added) byUser.set(r.user_id, rows.sort((a, b) => a.step - b.step || a.channel.localeCompare(b.channel)));
  }
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** Median and 90th percentile of the time to acknowledge, for the after-action report. */
function timeToAck(ms: number[]): { time_to_ack_ms?: { median: number; p90: number; max: number } } {
  if (ms.length === 0) return {};
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { time_to_ack_ms: { median: at(0.5), p90: at(0.9), max: sorted.at(-1)! } };
}

/** The roll call with its tally: how many gave each answer, and how many have not answered. */
function rollcallResults(rollcall: NonNullable<AlertRow['rollcall']>, recipients: RecipientRow[]): Record<string, unknown> {
  const results: Record<string, number> = Object.fromEntries(rollcall.answers.map((a) => [a, 0]));
  let unanswered = 0;
  for (const r of recipients) {
    if (r.rollcall_answer !== null && r.rollcall_answer in results) results[r.rollcall_answer]! += 1;
    else unanswered += 1;
  }
  return { ...rollcall, results, unanswered };
}
