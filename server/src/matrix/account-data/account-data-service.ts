import type { Knex } from 'knex';
import { MatrixError, notFound } from '../../errors.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import * as accountDataRepo from '../../storage/account-data.ts';
import { nextStreamPos } from '../../storage/stream.ts';

// Types the server manages itself; clients must use the dedicated APIs.
const SERVER_MANAGED = new Set(['m.fully_read', 'm.push_rules']);

export class AccountDataService {
  readonly #db: Knex;
  readonly #bus: NotifyBus;

  constructor(db: Knex, bus: NotifyBus) {
    this.#db = db;
    this.#bus = bus;
  }

  async get(userId: string, roomId: string, type: string): Promise<Record<string, unknown>> {
    const row = await accountDataRepo.findAccountData(this.#db, userId, roomId, type);
    if (!row) throw notFound('Account data not found.');
    return row.content;
  }

  /** Client writes: refuses the types the server manages. */
  async setByClient(userId: string, roomId: string, type: string, content: Record<string, unknown>): Promise<void> {
    if (SERVER_MANAGED.has(type)) {
      // The spec's answer for server-managed types: 405 M_BAD_JSON.
      throw new MatrixError(405, 'M_BAD_JSON', `Cannot set ${type} through this API.`);
    }
    await this.set(userId, roomId, type, content);
  }

  async set(userId: string, roomId: string, type: string, content: Record<string, unknown>): Promise<void> {
    let pos = 0;
    await this.#db.transaction(async (trx) => {
      pos = await nextStreamPos(trx);
      await accountDataRepo.upsertAccountData(trx, { user_id: userId, room_id: roomId, type, content, stream_pos: pos });
    });
    this.#bus.publish({ pos, users: [userId] });
  }
}
