import { randomBytes, randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import { MatrixError, forbidden, notFound } from '../../errors.ts';
import type { Requester } from '../../http/route.ts';
import type { Logger } from '../../logger.ts';
import * as deliveriesRepo from '../../storage/alert-deliveries.ts';
import * as stepsRepo from '../../storage/alert-steps.ts';
import * as alertsRepo from '../../storage/alerts.ts';
import * as contactsRepo from '../../storage/contacts.ts';
import * as quietRepo from '../../storage/quiet-hours.ts';
import { hasRole } from '../../storage/roles.ts';
import { nextStreamPos } from '../../storage/stream.ts';
import type { Delivery } from '../channels/channel.ts';
import type { AckLinks } from './ack-links.ts';
import type { CreateAlertInput } from './alert-input.ts';
import { alertStatusJson } from './alert-status.ts';
import { resolveAudience } from './audience.ts';
import { normalisePlan, type EscalationPlan } from './escalation.ts';
import { quietUntil } from './quiet-hours.ts';

export type AckChannel = 'matrix' | 'webpush' | 'sms' | 'email' | 'app';

export interface AlertServiceDeps {
  db: Knex;
  log: Logger;
  serverName: string;
  links: AckLinks;
  defaultPlan: EscalationPlan;
  /** Users that are never recipients (the Tocsin system user). */
  systemUsers: ReadonlySet<string>;
  /** Pokes the escalation engine: new work is due now. */
  wakeEngine: () => void;
  /** Tells live watchers (console, alert feed) that an alert changed, after the commit. */
  changed: (alertId: string, userIds: string[], pos?: number) => void;
  /** Shows a new alert where its audience works (its crisis rooms), after the commit. */
  announce?: (alert: Delivery['alert'], audience: string[]) => void;
}

const DEFAULT_EXPIRY_S = 24 * 3600;

/** Alerts: who gets what when, who acknowledged, and the status that the console shows. */
export class AlertService {
  readonly #d: AlertServiceDeps;

  constructor(deps: AlertServiceDeps) {
    this.#d = deps;
  }

  /** The plan an alert follows when its sender gives none (configuration, or DESIGN.md's default). */
  get defaultPlan(): EscalationPlan {
    return this.#d.defaultPlan;
  }

  async canSend(requester: Requester): Promise<boolean> {
    return requester.isAdmin || (await hasRole(this.#d.db, requester.userId, 'alert_sender'));
  }

  async create(requester: Requester, input: CreateAlertInput): Promise<{ alert_id: string; recipients: number }> {
    const { db } = this.#d;
    if (!(await this.canSend(requester))) throw forbidden('Only alert senders and administrators may send alerts.');
    const recipients = (await resolveAudience(db, this.#d.serverName, requester.userId, input.audience)).filter((u) => !this.#d.systemUsers.has(u));
    if (recipients.length === 0) throw new MatrixError(400, 'M_INVALID_PARAM', 'The audience has nobody in it.');
    const plan = normalisePlan(input.escalation ?? this.#d.defaultPlan);
    const now = Date.now();
    const alertId = `al_${randomBytes(9).toString('base64url')}`;
    let pos = 0;
    const quiet = input.severity === 'critical' ? new Map() : await quietRepo.quietHoursOf(db, recipients);
    // Right to disconnect: info and warning wait for the end of quiet hours, critical never
    // does. The held are few: their rows for every step are written now, at their own times.
    const held: deliveriesRepo.NewDelivery[] = [];
    for (const userId of recipients) {
      const q = quiet.get(userId);
      const heldUntil = q ? quietUntil(q, now) : undefined;
      if (heldUntil === undefined) continue;
      plan.forEach((step, index) => {
        for (const channel of step.channels) {
          held.push({ alert_id: alertId, user_id: userId, step: index, channel, state: 'held', due_ts: heldUntil + step.after_s * 1000 });
        }
      });
    }
    // Everyone else: each step's rows are written by the engine when it falls due (the first
    // one right after this answer), a chunk at a time, only for those still unacknowledged then
    // (storage/alert-steps.ts): the answer waits for none of them, the first messages go out
    // while the rest are written, and no row is written that an acknowledgement made useless.
    const steps: stepsRepo.StepRow[] = plan.map((step, index) => ({
      alert_id: alertId,
      step: index,
      due_ts: now + step.after_s * 1000,
      state: 'pending',
      cursor: '',
    }));
    await db.transaction(async (trx) => {
      await alertsRepo.insertAlert(trx, {
        alert_id: alertId,
        sender: requester.userId,
        severity: input.severity,
        title: input.title,
        body: input.body,
        drill: input.drill ?? false,
        state: 'active',
        audience: input.audience,
        escalation: plan,
        rollcall: input.rollcall ? { question: input.rollcall.question ?? input.title, answers: input.rollcall.answers } : null,
        room_id: null,
        event_id: null,
        created_ts: now,
        expires_ts: now + (input.expires_in_s ?? DEFAULT_EXPIRY_S) * 1000,
        closed_ts: null,
      });
      await alertsRepo.insertRecipients(
        trx,
        recipients.map((user_id) => ({ alert_id: alertId, user_id, reply_code: String(randomInt(1000, 10000)), acknowledged_ts: null, ack_channel: null, rollcall_answer: null })),
      );
      await deliveriesRepo.insertDeliveries(trx, held, now);
      await stepsRepo.insertSteps(trx, steps);
      // Last: the feed position serialises writers until the commit (storage/stream.ts).
      pos = await nextStreamPos(trx);
      await alertsRepo.setFeedPos(trx, alertId, pos);
    });
    this.#d.log.info({ alertId, severity: input.severity, recipients: recipients.length, drill: input.drill ?? false, sender: requester.userId }, 'alert created');
    this.#d.wakeEngine();
    this.#d.changed(alertId, recipients, pos);
    this.#d.announce?.({ alertId, severity: input.severity, title: input.title, body: input.body, drill: input.drill ?? false, createdAt: now }, input.audience);
    return { alert_id: alertId, recipients: recipients.length };
  }

  /** Senders, admins and alert senders see everything; a recipient sees only their own line. */
  async status(requester: Requester, alertId: string): Promise<Record<string, unknown>> {
    const { db } = this.#d;
    const alert = await alertsRepo.findAlert(db, alertId);
    if (!alert) throw notFound('Unknown alert.');
    const full = alert.sender === requester.userId || (await this.canSend(requester));
    let recipients = await alertsRepo.recipientsOf(db, alertId);
    if (!full) {
      recipients = recipients.filter((r) => r.user_id === requester.userId);
      if (recipients.length === 0) throw notFound('Unknown alert.');
    }
    let deliveries = await deliveriesRepo.deliveriesOf(db, alertId);
    if (!full) deliveries = deliveries.filter((d) => d.user_id === requester.userId);
    return alertStatusJson(alert, recipients, deliveries, await stepsRepo.stepsOf(db, alertId));
  }

  async list(requester: Requester, limit: number, before?: number): Promise<Record<string, unknown>[]> {
    const { db } = this.#d;
    const all = await this.canSend(requester);
    const alerts = await alertsRepo.listAlerts(db, { limit, before, userId: all ? undefined : requester.userId });
    const out: Record<string, unknown>[] = [];
    for (const a of alerts) {
      const mine = await alertsRepo.findRecipient(db, a.alert_id, requester.userId);
      out.push({
        alert_id: a.alert_id,
        severity: a.severity,
        title: a.title,
        body: a.body,
        drill: a.drill,
        state: a.state,
        created_at: a.created_ts,
        ...(a.rollcall ? { rollcall: a.rollcall } : {}),
        ...(mine ? { acknowledged_at: mine.acknowledged_ts, reply_code: mine.reply_code } : {}),
      });
    }
    return out;
  }

  /**
   * Records an acknowledgement (idempotent: the first one wins) and stops the remaining steps
   * for that person. Returns false when it had already been acknowledged.
   */
  async acknowledge(alertId: string, userId: string, channel: AckChannel, answer?: string): Promise<boolean> {
    const { db } = this.#d;
    const alert = await alertsRepo.findAlert(db, alertId);
    if (!alert) throw notFound('Unknown alert.');
    const recipient = await alertsRepo.findRecipient(db, alertId, userId);
    if (!recipient) throw forbidden('You are not a recipient of this alert.');
    if (answer !== undefined) {
      if (!alert.rollcall) throw new MatrixError(400, 'M_INVALID_PARAM', 'This alert has no roll call.');
      if (!alert.rollcall.answers.includes(answer)) throw new MatrixError(400, 'M_INVALID_PARAM', `Answer must be one of: ${alert.rollcall.answers.join(', ')}.`);
    }
    const now = Date.now();
    let first = false;
    let pos: number | undefined;
    await db.transaction(async (trx) => {
      first = await alertsRepo.markAcknowledged(trx, alertId, userId, channel, now, answer);
      if (!first && answer !== undefined) await alertsRepo.setRollcallAnswer(trx, alertId, userId, answer);
      await deliveriesRepo.cancelOpen(trx, alertId, [userId], now);
      if (first || answer !== undefined) {
        pos = await nextStreamPos(trx);
        await alertsRepo.setAckPos(trx, alertId, userId, pos);
      }
    });
    if (first) this.#d.log.info({ alertId, userId, channel }, 'alert acknowledged');
    this.#d.changed(alertId, [userId], pos);
    return first;
  }

  /** An acknowledgement through a delivery's signed link (no login). */
  async acknowledgeByToken(token: string, answer?: string): Promise<{ alertId: string; userId: string; first: boolean }> {
    const target = await this.deliveryOfToken(token);
    const channel = target.delivery.channel as AckChannel;
    const first = await this.acknowledge(target.delivery.alert_id, target.delivery.user_id, channel, answer);
    return { alertId: target.delivery.alert_id, userId: target.delivery.user_id, first };
  }

  async deliveryOfToken(token: string): Promise<{ delivery: deliveriesRepo.DeliveryRow; alert: alertsRepo.AlertRow; recipient: alertsRepo.RecipientRow }> {
    const { db } = this.#d;
    const id = this.#d.links.verify(token);
    const delivery = id === undefined ? undefined : await deliveriesRepo.findDelivery(db, id);
    if (!delivery) throw notFound('This link is not valid.');
    const alert = await alertsRepo.findAlert(db, delivery.alert_id);
    const recipient = await alertsRepo.findRecipient(db, delivery.alert_id, delivery.user_id);
    if (!alert || !recipient) throw notFound('This link is not valid.');
    return { delivery, alert, recipient };
  }

  /**
   * An SMS reply: "OK" (any case), optionally followed by the reply code, acknowledges the
   * sender's latest pending alert (or the one with that code). Unknown numbers change nothing.
   */
  async acknowledgeBySms(from: string, text: string): Promise<{ alertId: string; userId: string } | undefined> {
    const m = /^\s*ok\b[\s.,:;!-]*(\d{4})?/i.exec(text);
    if (!m) return undefined;
    const users = await contactsRepo.usersWithPhone(this.#d.db, from);
    if (users.length === 0) {
      this.#d.log.warn({ from: maskPhone(from) }, 'SMS reply from an unknown number ignored');
      return undefined;
    }
    const pending = await alertsRepo.latestPendingFor(this.#d.db, users, m[1]);
    if (!pending) return undefined;
    await this.acknowledge(pending.alert_id, pending.user_id, 'sms');
    return { alertId: pending.alert_id, userId: pending.user_id };
  }

  /** Cancel (stop everything, the alert was a mistake) or close (the crisis is over). */
  async finish(requester: Requester, alertId: string, how: 'cancelled' | 'closed'): Promise<void> {
    const { db } = this.#d;
    const alert = await alertsRepo.findAlert(db, alertId);
    if (!alert) throw notFound('Unknown alert.');
    if (alert.sender !== requester.userId && !requester.isAdmin) throw forbidden('Only the sender or an administrator may do that.');
    const now = Date.now();
    let pos = 0;
    await db.transaction(async (trx) => {
      await alertsRepo.setAlertState(trx, alertId, how, now);
      await deliveriesRepo.cancelOpen(trx, alertId, 'all', now);
      await stepsRepo.cancelPendingSteps(trx, alertId);
      pos = await nextStreamPos(trx);
      await alertsRepo.setFeedPos(trx, alertId, pos);
    });
    const recipients = (await alertsRepo.recipientsOf(db, alertId)).map((r) => r.user_id);
    this.#d.changed(alertId, recipients, pos);
  }
}

export function maskPhone(phone: string): string {
  return phone.length > 4 ? `${phone.slice(0, 3)}…${phone.slice(-2)}` : '…';
}
