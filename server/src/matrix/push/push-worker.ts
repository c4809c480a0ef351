import { WakeLoop } from '../../jobs/wake-loop.ts';
import type { Knex } from 'knex';
import type { Logger } from '../../logger.ts';
import * as pushRepo from '../../storage/push.ts';
import { evaluateEvents } from './room-context.ts';

/** Events per evaluation transaction: small, since PGlite serialises every query behind it. */
const BATCH = 100;
/** Other nodes' events are noticed by polling (local ones wake the worker at once). */
const IDLE_POLL_MS = 1000;

/**
 * Evaluates push rules for every committed event and every recipient, outside the event's
 * write transaction: the worker follows the event stream with a cursor kept in the database
 * (claimed FOR UPDATE SKIP LOCKED, so one node evaluates at a time and a crash loses nothing:
 * the cursor moves in the same transaction as the results). It stores the notifying outcomes
 * (counts, /notifications) and queues deliveries to the recipients' HTTP pushers.
 */
export class PushWorker {
  readonly #db: Knex;
  readonly #log: Logger;
  readonly #onDeliveries: () => void;
  readonly #wakes: WakeLoop;
  /** Consecutive failures at one cursor position: a poison event must not stop push for all. */
  #failures = { at: -1, count: 0 };
  #lastCursor = -1;

  constructor(db: Knex, log: Logger, onDeliveries: () => void) {
    this.#db = db;
    this.#log = log;
    this.#onDeliveries = onDeliveries;
    this.#wakes = new WakeLoop(async () => {
      await this.#loop();
      return IDLE_POLL_MS;
    });
  }

  start(): void {
    this.#wakes.start();
  }

  wake(): void {
    this.#wakes.wake();
  }

  async stop(): Promise<void> {
    await this.#wakes.stop();
  }

  /** Runs until the cursor has caught up (tests and benchmarks). */
  async drain(): Promise<void> {
    while ((await this.#runOnce()) === BATCH);
  }

  async #loop(): Promise<void> {
    try {
      for (;;) {
        this.#wakes.clearAgain();
        const n = await this.#runOnce();
        if (this.#wakes.stopped || n < BATCH) break;
      }
    } catch (err) {
      if (this.#wakes.stopped) return;
      this.#log.error({ err }, 'push rule evaluation failed');
      if (this.#failures.at === this.#lastCursor) this.#failures.count++;
      else this.#failures = { at: this.#lastCursor, count: 1 };
      // After repeated failures, go one event at a time; then step over the failing event.
      if (this.#failures.count >= 6) await this.#skipOne().catch((e: unknown) => this.#log.error({ err: e }, 'push cursor skip failed'));
    }
  }

  async #skipOne(): Promise<void> {
    await this.#db.transaction(async (trx) => {
      const claimed = await pushRepo.claimCursor(trx, 1);
      const event = claimed?.events[0];
      if (!claimed || !event || claimed.cursor !== this.#failures.at) return;
      this.#log.error({ eventId: event.pdu.event_id }, 'push rules could not be evaluated for an event: skipped');
      await pushRepo.advanceCursor(trx, event.streamPos);
    });
    this.#failures = { at: -1, count: 0 };
  }

  /** One batch; returns the number of events evaluated. */
  async #runOnce(): Promise<number> {
    let deliveries = 0;
    const n = await this.#db.transaction(async (trx) => {
      const limit = this.#failures.count >= 3 && this.#failures.at === this.#lastCursor ? 1 : BATCH;
      const claimed = await pushRepo.claimCursor(trx, limit);
      if (!claimed || claimed.events.length === 0) return 0;
      this.#lastCursor = claimed.cursor;
      const now = Date.now();
      const results = await evaluateEvents(trx, claimed.events);
      await pushRepo.insertPushActions(
        trx,
        results.map((r) => ({
          user_id: r.userId,
          event_id: r.event.pdu.event_id,
          room_id: r.event.pdu.room_id,
          event_stream_pos: r.event.streamPos,
          highlight: r.outcome.highlight,
          actions: r.outcome.actions,
          ts: r.event.pdu.origin_server_ts,
        })),
      );
      const notified = [...new Set(results.map((r) => r.userId))];
      const pushers = await pushRepo.pushersOf(trx, notified);
      if (pushers.length > 0) {
        const byUser = new Map<string, pushRepo.PusherRow[]>();
        for (const p of pushers) byUser.set(p.user_id, [...(byUser.get(p.user_id) ?? []), p]);
        const rows = results.flatMap((r) =>
          (byUser.get(r.userId) ?? []).map((p) => ({
            pusher_id: p.id,
            user_id: r.userId,
            event_id: r.event.pdu.event_id,
            room_id: r.event.pdu.room_id,
            event_stream_pos: r.event.streamPos,
            highlight: r.outcome.highlight,
            actions: r.outcome.actions,
            due_ts: now,
          })),
        );
        await pushRepo.insertDeliveries(trx, rows);
        deliveries = rows.length;
      }
      await pushRepo.advanceCursor(trx, claimed.events.at(-1)!.streamPos);
      return claimed.events.length;
    });
    if (deliveries > 0) this.#onDeliveries();
    return n;
  }
}
