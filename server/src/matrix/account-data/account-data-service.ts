import type { Knex } from 'knex';
import { MatrixError, notFound } from '../../errors.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import * as accountDataRepo from '../../storage/account-data.ts';
import { nextStreamPos } from '../../storage/stream.ts';

// Types the server manages itself; clients must use the dedicated APIs.
const SERVER_MANAGED = new Set(['m.fully_read', 'm.push_rules']);

/** Room tags live in this room account data type (the tags API and sync both read it). */
const TAGS = 'm.tag';

function tagsOf(content: Record<string, unknown> | undefined): Record<string, unknown> {
  const tags = content?.tags;
  return tags !== null && typeof tags === 'object' && !Array.isArray(tags) ? { ...(tags as Record<string, unknown>) } : {};
}

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

  /** A room's tags: the `tags` of its `m.tag` room account data, none when it has none. */
  async roomTags(userId: string, roomId: string): Promise<Record<string, unknown>> {
    const row = await accountDataRepo.findAccountData(this.#db, userId, roomId, TAGS);
    return tagsOf(row?.content);
  }

  /**
   * Sets (`content`) or removes (`undefined`) one tag of a room. The `m.tag` row is read and
   * written in one transaction with the row locked: two tags set at once both stay.
   */
  async setRoomTag(userId: string, roomId: string, tag: string, content: Record<string, unknown> | undefined): Promise<void> {
    let pos = 0;
    await this.#db.transaction(async (trx) => {
      pos = await nextStreamPos(trx);
      // A row to lock even for the first tag: FOR UPDATE cannot lock a row that is not there yet.
      const key = { user_id: userId, room_id: roomId, type: TAGS };
      await accountDataRepo.insertAccountDataIfMissing(trx, { ...key, content: { tags: {} }, stream_pos: pos });
      const row = await accountDataRepo.findAccountDataForUpdate(trx, userId, roomId, TAGS);
      const tags = tagsOf(row?.content);
      if (content === undefined) delete tags[tag];
      else tags[tag] = content;
      await accountDataRepo.upsertAccountData(trx, { ...key, content: { ...row?.content, tags }, stream_pos: pos });
    });
    this.#bus.publish({ pos, users: [userId] });
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
