import type { Knex } from 'knex';
import { listPushSubscriptionsOf, type PushSubscriptionRow } from './subscriptions.ts';

// A fan-out calls send() for thousands of recipients at once; one query per recipient would
// make the database the bottleneck (PGlite runs one query at a time). Requests made in the
// same tick are gathered into one `WHERE user_id IN (...)` query.

const MAX_BATCH = 1000;

export class SubscriptionLoader {
  readonly #db: Knex;
  #queue = new Map<string, ((rows: PushSubscriptionRow[]) => void)[]>();
  #rejects: ((err: Error) => void)[] = [];
  #scheduled = false;

  constructor(db: Knex) {
    this.#db = db;
  }

  load(userId: string): Promise<PushSubscriptionRow[]> {
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
        const byUser = new Map<string, PushSubscriptionRow[]>();
        for (const row of results.flat()) {
          const list = byUser.get(row.user_id);
          if (list) list.push(row);
          else byUser.set(row.user_id, [row]);
        }
        for (const [userId, resolvers] of queue) for (const resolve of resolvers) resolve(byUser.get(userId) ?? []);
      },
      (err: Error) => {
        for (const reject of rejects) reject(err);
      },
    );
  }
}
