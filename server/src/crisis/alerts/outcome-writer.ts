import type { Knex } from 'knex';
import type { Logger } from '../../logger.ts';

// Records dispatched deliveries as sent (or delivered) soon after each dispatch, many at a
// time: one UPDATE ... FROM (VALUES ...) per batch instead of one UPDATE per delivery, which
// was the database's and the server's main cost in a fan-out to thousands. A batch goes when
// MAX_ROWS are waiting or MAX_DELAY_MS after the first one, one batch in flight at a time (the
// next one takes everything that queued meanwhile). Until its batch is written a dispatch is
// not recorded: a crash then may send it again, never a recorded one.

export interface SentOutcome {
  id: number;
  state: 'sent' | 'delivered';
  externalId: string | null;
  at: number;
}

const MAX_ROWS = 1000;
const MAX_DELAY_MS = 20;

export class OutcomeWriter {
  readonly #db: Knex;
  readonly #log: Logger;
  #queue: SentOutcome[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;

  constructor(db: Knex, log: Logger) {
    this.#db = db;
    this.#log = log;
  }

  add(outcome: SentOutcome): void {
    this.#queue.push(outcome);
    if (this.#queue.length >= MAX_ROWS) this.#kick();
    else this.#timer ??= setTimeout(() => this.#kick(), MAX_DELAY_MS);
  }

  /** Resolves once everything added so far is written (or failed to be, which is logged). */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#writing) {
      this.#kick();
      await this.#writing;
    }
  }

  #kick(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#writing || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, MAX_ROWS);
    this.#writing = this.#write(batch).finally(() => {
      this.#writing = undefined;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #write(batch: SentOutcome[]): Promise<void> {
    try {
      const rows = batch.map(() => '(?::bigint, ?::text, ?::text, ?::bigint)').join(', ');
      const bindings = batch.flatMap((o) => [o.id, o.state, o.externalId, o.at]);
      // Only while still claimed: a receipt may already have moved it on to delivered.
      await this.#db.raw(
        `UPDATE alert_deliveries AS d
         SET state = v.state, external_id = v.external_id, sent_ts = v.at, last_error = NULL, lease_until = NULL, updated_ts = v.at
         FROM (VALUES ${rows}) AS v(id, state, external_id, at)
         WHERE d.id = v.id AND d.state = 'sending'`,
        bindings,
      );
    } catch (err) {
      // Left 'sending': taken over when the lease runs out, and sent again.
      this.#log.error({ err, deliveries: batch.length }, 'could not record dispatched deliveries');
    }
  }
}
