import type { Knex } from 'knex';
import { notFound } from '../../errors.ts';
import * as quietRepo from '../../storage/quiet-hours.ts';
import { quietHoursSchema, type QuietHours } from './quiet-hours.ts';

/** Each person's right to disconnect: a daily window in their time zone. */
export class QuietHoursService {
  readonly schema = quietHoursSchema;
  readonly #db: Knex;

  constructor(db: Knex) {
    this.#db = db;
  }

  async get(userId: string): Promise<QuietHours> {
    const row = (await quietRepo.quietHoursOf(this.#db, [userId])).get(userId);
    if (!row) throw notFound('No quiet hours set.');
    return { time_zone: row.time_zone, start: row.start, end: row.end };
  }

  set(userId: string, q: QuietHours): Promise<void> {
    return quietRepo.setQuietHours(this.#db, { user_id: userId, ...q });
  }

  remove(userId: string): Promise<void> {
    return quietRepo.deleteQuietHours(this.#db, userId);
  }
}
