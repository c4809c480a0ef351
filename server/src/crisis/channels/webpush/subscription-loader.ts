import type { Knex } from 'knex';
import { listPushSubscriptionsOf, type PushSubscriptionRow } from './subscriptions.ts';

// A fan-out calls send() for thousands of recipients at once; one query per recipient would
// make the database the bottleneck (PGlite runs one query at a time). Requests made in the
// same tick are gathered into one `WHERE user_id IN (...)` query. Sends held back by the
// engine's concurrency limit start one by one as others finish, each in its own tick: the
// engine announces the whole batch first (prefetch), and those sends find their rows ready.

const MAX_BATCH = 1000;
/** A prefetched answer nobody asked for (the send was skipped) is dropped after this long. */
const PREFETCH_TTL_MS = 60_000;

export class SubscriptionLoader {
  readonly #db: Knex;
  #queue = new Map<string, ((rows: PushSubscriptionRow[]) => void)[]>();
  #rejects: ((err: Error) => void)[] = [];
  #scheduled = false;
  readonly #prefetched = new Map<string, { rows: Promise<PushSubscriptionRow[]>; at: number }>();

  constructor(db: Knex) {
    this.#db = db;
  }

  /** Loads the subscriptions of these users now, in a few queries, for their coming load(). */
  prefetch(userIds: readonly string[]): void {
    const now = Date.now();
    for (const [userId, p] of this.#prefetched) if (now - p.at > PREFETCH_TTL_MS) this.#prefetched.delete(userId);
    const wanted = [...new Set(userIds)].filter((u) => !this.#prefetched.has(u));
    for (let i = 0; i < wanted.length; i += MAX_BATCH) {
      const batch = wanted.slice(i, i + MAX_BATCH);
      const byUser = listPushSubscriptionsOf(this.#db, batch).then(groupByUser);
      for (const userId of batch) {
        const rows = byUser.then((m) => m.get(userId) ?? []);
        // A failed prefetch is reported to its load() (the send is retried), not as unhandled.
        rows.catch(() => undefined);
        this.#prefetched.set(userId, { rows, at: now });
      }
    }
  }

  load(userId: string): Promise<PushSubscriptionRow[]> {
    const prefetched = this.#prefetched.get(userId);
    if (prefetched) {
      this.#prefetched.delete(userId);
      return prefetched.rows;
    }
    return new Promise((resolve, reject) => {
      const waiting = this.#queue.get(userId);
      if (waiting) waiting.push(resolve);
      else this.#queue.set(userId, [resolve]);
      this.#rejects.push(reject);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    const queue = this.#queue;
    const rejects = this.#rejects;
    this.#queue = new Map();
    this.#rejects = [];
    this.#scheduled = false;
    const userIds = [...queue.keys()];
    const batches: string[][] = [];
    for (let i = 0; i < userIds.length; i += MAX_BATCH) batches.push(userIds.slice(i, i + MAX_BATCH));
    Promise.all(batches.map((batch) => listPushSubscriptionsOf(this.#db, batch))).then(
      (results) => {
        const byUser = groupByUser(results.flat());
        for (const [userId, resolvers] of queue) for (const resolve of resolvers) resolve(byUser.get(userId) ?? []);
      },
      (err: Error) => {
        for (const reject of rejects) reject(err);
      },
    );
  }
}

function groupByUser(rows: PushSubscriptionRow[]): Map<string, PushSubscriptionRow[]> {
  const byUser = new Map<string, PushSubscriptionRow[]>();
  for (const row of rows) {
    const list = byUser.get(row.user_id);
    if (list) list.push(row);
    else byUser.set(row.user_id, [row]);
  }
  return byUser;
}
