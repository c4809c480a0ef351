import { WakeLoop } from '../../jobs/wake-loop.ts';
import type { Knex } from 'knex';
import type { Logger } from '../../logger.ts';
import * as deliveriesRepo from '../../storage/alert-deliveries.ts';
import type { DeliveryRow } from '../../storage/alert-deliveries.ts';
import * as stepsRepo from '../../storage/alert-steps.ts';
import * as alertsRepo from '../../storage/alerts.ts';
import * as contactsRepo from '../../storage/contacts.ts';
import * as usersRepo from '../../storage/users.ts';
import { PermanentChannelError, TransientChannelError, type ChannelAdapter, type Delivery } from '../channels/channel.ts';
import type { AckLinks } from './ack-links.ts';
import { OutcomeWriter } from './outcome-writer.ts';
import { Semaphore } from './semaphore.ts';

export interface EngineDeps {
  db: Knex;
  log: Logger;
  adapters: ReadonlyMap<string, ChannelAdapter>;
  links: AckLinks;
  changed: (alertId: string, userIds: string[]) => void;
  /**
   * How long a claim holds without renewal (alerts.lease_s, 120 s by default): a live node
   * renews the leases of what it is still dispatching; a dead node's claims are taken over
   * once their lease has run out.
   */
  leaseMs?: number;
}

export const DEFAULT_LEASE_MS = 120_000;
const BATCH = 2000;
/**
 * The first claim of a run is small and the next ones grow to BATCH: the first messages go out
 * while the rest of a large fan-out is still being claimed and loaded, instead of after it.
 */
const FIRST_BATCH = 128;
/** Batches dispatching at once: the next one is claimed and loaded while the first goes out. */
const BATCHES_IN_FLIGHT = 2;
const MAX_ATTEMPTS = 6;
/**
 * Within a run, due alert steps are looked for at most this often (and always right after a
 * chunk was written): a later step is minutes after the first, and each look is a query on a
 * database that claims, renewals and acknowledgements share (PGlite has one connection).
 */
const STEP_CHECK_MS = 500;
const IDLE_POLL_MS = 2000;
const CONCURRENCY: Record<string, number> = { webpush: 256, email: 16, sms: 64, matrix: 4 };

function backoffMs(attempts: number): number {
  return Math.min(5000 * 2 ** Math.max(0, attempts - 1), 300_000);
}

/** Pushes further out the leases of claimed steps still being dispatched. */
async function renewLeases(db: Knex, ids: number[], until: number): Promise<void> {
  for (let i = 0; i < ids.length; i += 5000) {
    await db('alert_deliveries').whereIn('id', ids.slice(i, i + 5000)).where('state', 'sending').update({ lease_until: until });
  }
}

interface Work {
  d: DeliveryRow;
  adapter: ChannelAdapter;
  delivery: Delivery;
}

/** A claimed batch, loaded and ready to dispatch. */
interface Batch {
  claimed: number;
  work: Work[];
  /** Steps settled without a dispatch (stale, unknown channel). */
  settled: Promise<void>[];
  touched: Map<string, Set<string>>;
}

/**
 * The escalation engine: claims due delivery steps from the database (FOR UPDATE SKIP LOCKED,
 * with a lease, so a crashed node's work is taken over), skips those whose recipient has
 * acknowledged, dispatches the rest through the channel adapters and records each outcome
 * within milliseconds (in batches, see outcome-writer.ts): a step whose dispatch was recorded
 * is never sent again.
 */
export class EscalationEngine {
  readonly #d: EngineDeps;
  readonly #leaseMs: number;
  readonly #limits = new Map<string, Semaphore>();
  readonly #outcomes: OutcomeWriter;
  readonly #wakes: WakeLoop;
  #stepsCheckedAt = 0;

  constructor(deps: EngineDeps) {
    this.#d = deps;
    this.#leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
    this.#outcomes = new OutcomeWriter(deps.db, deps.log);
    for (const [name, size] of Object.entries(CONCURRENCY)) this.#limits.set(name, new Semaphore(size));
    this.#wakes = new WakeLoop(() => this.#loop());
  }

  start(): void {
    this.#wakes.start();
  }

  /** New work may be due: run now (or right after the current run). */
  wake(): void {
    this.#wakes.wake();
  }

  async stop(): Promise<void> {
    await this.#wakes.stop();
  }

  /** One run; returns the delay before the next (WakeLoop runs again at once after a wake). */
  async #loop(): Promise<number> {
    let next = IDLE_POLL_MS;
    const dispatching = new Set<Promise<void>>();
    let size = FIRST_BATCH;
    try {
      for (;;) {
        this.#wakes.clearAgain();
        const limit = size;
        size = Math.min(BATCH, size * 4);
        // A chunk of a due step's rows each round, then a claim: the first messages of a large
        // fan-out go out while the rest are written, and a step falling due during a long
        // fan-out does not wait for its end.
        const moreToWrite = await this.#expandDueSteps(limit, 1, limit === FIRST_BATCH);
        if (moreToWrite) this.#wakes.goAgain();
        const batch = await this.#claim(limit);
        if (batch) {
          const running: Promise<void> = this.#dispatchBatch(batch)
            .catch((err: unknown) => {
              if (!this.#wakes.stopped) this.#d.log.error({ err }, 'escalation engine batch failed');
            })
            .finally(() => dispatching.delete(running));
          dispatching.add(running);
        }
        if (this.#wakes.stopped) break;
        if ((batch?.claimed ?? 0) < limit && !this.#wakes.again) break;
        if (dispatching.size >= BATCHES_IN_FLIGHT) await Promise.race(dispatching);
      }
      await Promise.all(dispatching);
      if (this.#wakes.stopped) return next;
      const dues = (await Promise.all([deliveriesRepo.nextDueTs(this.#d.db), stepsRepo.nextStepDueTs(this.#d.db)])).filter((t) => t !== undefined);
      if (dues.length > 0) next = Math.max(0, Math.min(IDLE_POLL_MS, Math.min(...dues) - Date.now()));
    } catch (err) {
      if (!this.#wakes.stopped) this.#d.log.error({ err }, 'escalation engine run failed');
      await Promise.all(dispatching);
    }
    return next;
  }

  /** Claims and dispatches one batch; returns how many steps it claimed. */
  async runOnce(): Promise<number> {
    await this.#expandDueSteps(BATCH);
    const batch = await this.#claim(BATCH);
    if (batch) await this.#dispatchBatch(batch);
    return batch?.claimed ?? 0;
  }

  /**
   * Writes the rows of alert steps that have fallen due, for the recipients still
   * unacknowledged, up to `chunks` chunks of `size` recipients (all when unbounded); returns
   * whether a due step has rows left to write. One transaction per chunk holds the step's row
   * (FOR UPDATE SKIP LOCKED) while it writes the chunk and moves the step's cursor: a crash
   * rolls both back and the chunk is written again, a second node skips the step meanwhile.
   */
  async #expandDueSteps(size: number, chunks = Infinity, force = false): Promise<boolean> {
    const { db, log } = this.#d;
    if (!force && Date.now() - this.#stepsCheckedAt < STEP_CHECK_MS) return false;
    this.#stepsCheckedAt = Date.now();
    // Usually nothing is due: one read, without opening a transaction (PGlite has one connection).
    const due = await stepsRepo.nextStepDueTs(db);
    if (due === undefined || due > Date.now()) return false;
    // Work found: the next round looks again at once.
    this.#stepsCheckedAt = 0;
    for (let i = 0; i < chunks; i++) {
      const now = Date.now();
      const done = await db.transaction(async (trx) => {
        const step = await stepsRepo.claimDueStep(trx, now);
        if (!step) return true;
        const alert = await alertsRepo.findAlert(trx, step.alert_id);
        const channels = alert?.escalation[step.step]?.channels;
        if (!alert || !channels || alert.state !== 'active' || alert.expires_ts <= now) {
          await stepsRepo.setStepState(trx, step.alert_id, step.step, 'cancelled');
          return false;
        }
        const more = await stepsRepo.expandStepChunk(trx, step, channels, now, size);
        if (!more) log.debug({ alertId: step.alert_id, step: step.step }, 'alert step due: deliveries written');
        return false;
      });
      if (done || this.#wakes.stopped) return false;
    }
    return true;
  }

  /** Claims due steps and loads what their dispatch needs; undefined when nothing is due. */
  async #claim(limit: number): Promise<Batch | undefined> {
    const { db } = this.#d;
    const now = Date.now();
    const claimed = await deliveriesRepo.claimDue(db, now, this.#leaseMs, limit);
    if (claimed.length === 0) return undefined;

    const alerts = new Map<string, alertsRepo.AlertRow | undefined>();
    const recipients = new Map<string, Map<string, alertsRepo.RecipientRow>>();
    for (const alertId of new Set(claimed.map((d) => d.alert_id))) {
      alerts.set(alertId, await alertsRepo.findAlert(db, alertId));
      // Only the recipients of this batch: a fan-out to 10,000 is claimed in several batches.
      const batchUsers = [...new Set(claimed.filter((d) => d.alert_id === alertId).map((d) => d.user_id))];
      const rows: alertsRepo.RecipientRow[] = await db('alert_recipients').where({ alert_id: alertId }).whereIn('user_id', batchUsers);
      recipients.set(alertId, new Map(rows.map((r) => [r.user_id, r])));
    }
    const userIds = [...new Set(claimed.map((d) => d.user_id))];
    const [users, contacts] = await Promise.all([usersRepo.findUsers(db, userIds), contactsRepo.contactsOf(db, userIds)]);

    const batch: Batch = { claimed: claimed.length, work: [], settled: [], touched: new Map() };
    for (const d of claimed) {
      const alert = alerts.get(d.alert_id);
      const recipient = recipients.get(d.alert_id)?.get(d.user_id);
      (batch.touched.get(d.alert_id) ?? batch.touched.set(d.alert_id, new Set()).get(d.alert_id)!).add(d.user_id);
      const stale = !alert || !recipient || alert.state !== 'active' || alert.expires_ts <= now || recipient.acknowledged_ts !== null;
      const account = users.get(d.user_id);
      // Deactivated or suspended (disabled in the directory) people get no alerts.
      if (stale || account?.deactivated || account?.suspended) {
        batch.settled.push(deliveriesRepo.finishDelivery(db, d.id, { state: 'cancelled' }, Date.now()));
        continue;
      }
      const adapter = this.#d.adapters.get(d.channel);
      if (!adapter) {
        batch.settled.push(deliveriesRepo.finishDelivery(db, d.id, { state: 'failed', last_error: `channel ${d.channel} is not configured` }, Date.now()));
        continue;
      }
      const user = users.get(d.user_id);
      const contact = contacts.get(d.user_id);
      const ackToken = this.#d.links.token(d.id);
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
        ackUrl: this.#d.links.urlOf(ackToken),
        ackToken,
        replyCode: recipient.reply_code,
      };
      batch.work.push({ d, adapter, delivery });
    }
    return batch;
  }

  /** Dispatches a claimed batch, keeps its leases alive meanwhile, and records the outcomes. */
  async #dispatchBatch(batch: Batch): Promise<void> {
    const open = new Set(batch.work.map((w) => w.d.id));
    // Slow channels (an SMSC's rate, a throttling push service) may take longer than a lease:
    // a live node renews its claims, so that no other node takes them over and sends twice.
    const renew = setInterval(() => {
      if (open.size === 0) return;
      renewLeases(this.#d.db, [...open], Date.now() + this.#leaseMs).catch((err: unknown) =>
        this.#d.log.warn({ err }, 'could not renew delivery leases'),
      );
    }, Math.max(50, this.#leaseMs / 3));
    renew.unref();
    try {
      // Each channel may fetch what the whole batch needs at once (web push: the subscriptions).
      for (const adapter of new Set(batch.work.map((w) => w.adapter))) {
        try {
          adapter.prepare?.(batch.work.filter((w) => w.adapter === adapter).map((w) => w.delivery));
        } catch (err) {
          this.#d.log.warn({ err, channel: adapter.name }, 'channel could not prepare a batch');
        }
      }
      await Promise.all([
        ...batch.settled,
        ...batch.work.map(async (w) => {
          await this.#dispatch(w.adapter, w.d, w.delivery);
          open.delete(w.d.id);
        }),
      ]);
      // Recorded before the watchers are told.
      await this.#outcomes.flush();
    } finally {
      clearInterval(renew);
    }
    for (const [alertId, users] of batch.touched) this.#d.changed(alertId, [...users]);
  }

  async #dispatch(adapter: ChannelAdapter, d: DeliveryRow, delivery: Delivery): Promise<void> {
    const { db, log } = this.#d;
    const limit = this.#limits.get(d.channel) ?? new Semaphore(8);
    try {
      const result = await limit.run(() => adapter.send(delivery));
      this.#outcomes.add({ id: d.id, state: result.state, externalId: result.externalId ?? null, at: Date.now() });
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
