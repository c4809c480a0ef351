import type { Knex } from 'knex';
import type { Logger } from '../../logger.ts';
import * as deliveriesRepo from '../../storage/alert-deliveries.ts';
import type { DeliveryRow } from '../../storage/alert-deliveries.ts';
import * as alertsRepo from '../../storage/alerts.ts';
import * as contactsRepo from '../../storage/contacts.ts';
import * as usersRepo from '../../storage/users.ts';
import { PermanentChannelError, TransientChannelError, type ChannelAdapter, type Delivery } from '../channels/channel.ts';
import type { AckLinks } from './ack-links.ts';
import { Semaphore } from './semaphore.ts';

export interface EngineDeps {
  db: Knex;
  log: Logger;
  adapters: ReadonlyMap<string, ChannelAdapter>;
  links: AckLinks;
  changed: (alertId: string, userIds: string[]) => void;
}

const LEASE_MS = 120_000;
const BATCH = 2000;
const MAX_ATTEMPTS = 6;
const IDLE_POLL_MS = 2000;
const CONCURRENCY: Record<string, number> = { webpush: 256, email: 16, sms: 64, matrix: 4 };

function backoffMs(attempts: number): number {
  return Math.min(5000 * 2 ** Math.max(0, attempts - 1), 300_000);
}

/**
 * The escalation engine: claims due delivery steps from the database (FOR UPDATE SKIP LOCKED,
 * with a lease, so a crashed node's work is taken over), skips those whose recipient has
 * acknowledged, dispatches the rest through the channel adapters and records the outcome at
 * once: a step whose dispatch was recorded is never sent again.
 */
export class EscalationEngine {
  readonly #d: EngineDeps;
  readonly #limits = new Map<string, Semaphore>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(deps: EngineDeps) {
    this.#d = deps;
    for (const [name, size] of Object.entries(CONCURRENCY)) this.#limits.set(name, new Semaphore(size));
  }

  start(): void {
    this.#schedule(0);
  }

  /** New work may be due: run now (or right after the current run). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) this.#again = true;
    else this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.#loop().finally(() => {
        this.#running = undefined;
      });
    }, ms);
    this.#timer.unref();
  }

  async #loop(): Promise<void> {
    let next = IDLE_POLL_MS;
    try {
      for (;;) {
        this.#again = false;
        const claimed = await this.runOnce();
        if (this.#stopped) return;
        if (claimed < BATCH && !this.#again) break;
      }
      const due = await deliveriesRepo.nextDueTs(this.#d.db);
      if (due !== undefined) next = Math.max(0, Math.min(IDLE_POLL_MS, due - Date.now()));
    } catch (err) {
      if (!this.#stopped) this.#d.log.error({ err }, 'escalation engine run failed');
    }
    this.#schedule(next);
  }

  /** Claims and dispatches one batch; returns how many steps it claimed. */
  async runOnce(): Promise<number> {
    const { db } = this.#d;
    const now = Date.now();
    const claimed = await deliveriesRepo.claimDue(db, now, LEASE_MS, BATCH);
    if (claimed.length === 0) return 0;

    const alerts = new Map<string, alertsRepo.AlertRow | undefined>();
    const recipients = new Map<string, Map<string, alertsRepo.RecipientRow>>();
    for (const alertId of new Set(claimed.map((d) => d.alert_id))) {
      alerts.set(alertId, await alertsRepo.findAlert(db, alertId));
      recipients.set(alertId, new Map((await alertsRepo.recipientsOf(db, alertId)).map((r) => [r.user_id, r])));
    }
    const userIds = [...new Set(claimed.map((d) => d.user_id))];
    const [users, contacts] = await Promise.all([usersRepo.findUsers(db, userIds), contactsRepo.contactsOf(db, userIds)]);

    const sent: number[] = [];
    const touched = new Map<string, Set<string>>();
    await Promise.all(
      claimed.map(async (d) => {
        const alert = alerts.get(d.alert_id);
        const recipient = recipients.get(d.alert_id)?.get(d.user_id);
        (touched.get(d.alert_id) ?? touched.set(d.alert_id, new Set()).get(d.alert_id)!).add(d.user_id);
        const stale = !alert || !recipient || alert.state !== 'active' || alert.expires_ts <= now || recipient.acknowledged_ts !== null;
        if (stale || users.get(d.user_id)?.deactivated) {
          await deliveriesRepo.finishDelivery(db, d.id, { state: 'cancelled' }, Date.now());
          return;
        }
        const adapter = this.#d.adapters.get(d.channel);
        if (!adapter) {
          await deliveriesRepo.finishDelivery(db, d.id, { state: 'failed', last_error: `channel ${d.channel} is not configured` }, Date.now());
          return;
        }
        const user = users.get(d.user_id);
        const contact = contacts.get(d.user_id);
        const delivery: Delivery = {
          deliveryId: String(d.id),
          alert: { alertId: alert.alert_id, severity: alert.severity, title: alert.title, body: alert.body, drill: alert.drill, createdAt: alert.created_ts },
          recipient: {
            userId: d.user_id,
            displayName: user?.displayname ?? d.user_id,
            email: contact?.email ?? undefined,
            phone: contact?.phone ?? undefined,
            language: contact?.language ?? undefined,
          },
          ackUrl: this.#d.links.url(d.id),
          ackToken: this.#d.links.token(d.id),
          replyCode: recipient.reply_code,
        };
        await this.#dispatch(adapter, d, delivery, sent);
      }),
    );
    await deliveriesRepo.markSent(db, sent, Date.now());
    for (const [alertId, users] of touched) this.#d.changed(alertId, [...users]);
    return claimed.length;
  }

  async #dispatch(adapter: ChannelAdapter, d: DeliveryRow, delivery: Delivery, sent: number[]): Promise<void> {
    const { db, log } = this.#d;
    const limit = this.#limits.get(d.channel) ?? new Semaphore(8);
    try {
      const result = await limit.run(() => adapter.send(delivery));
      if (result.state === 'sent' && !result.externalId) {
        sent.push(d.id);
      } else {
        await deliveriesRepo.finishDelivery(db, d.id, { state: result.state, external_id: result.externalId ?? null, sent_ts: Date.now(), last_error: null }, Date.now());
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof PermanentChannelError || d.attempts >= MAX_ATTEMPTS) {
        await deliveriesRepo.finishDelivery(db, d.id, { state: 'failed', last_error: message.slice(0, 500) }, Date.now());
      } else {
        const wait = err instanceof TransientChannelError && err.retryAfterMs !== undefined ? err.retryAfterMs : backoffMs(d.attempts);
        await deliveriesRepo.finishDelivery(db, d.id, { state: 'pending', due_ts: Date.now() + wait, last_error: message.slice(0, 500) }, Date.now());
        if (!(err instanceof TransientChannelError)) log.warn({ err, channel: d.channel, deliveryId: d.id }, 'channel error (will retry)');
      }
    }
  }
}
