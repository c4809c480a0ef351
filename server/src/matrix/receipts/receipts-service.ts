import type { Knex } from 'knex';
import { MatrixError, notFound } from '../../errors.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import * as eventsRepo from '../../storage/events.ts';
import * as receiptsRepo from '../../storage/receipts.ts';
import { nextStreamPos } from '../../storage/stream.ts';
import type { AccountDataService } from '../account-data/account-data-service.ts';
import type { TimelineReader } from '../timeline/read.ts';

export const RECEIPT_TYPES = ['m.read', 'm.read.private'] as const;

export interface ReceiptChange {
  roomId: string;
  userId: string;
  type: string;
  eventId: string;
  threadId: string | undefined;
  ts: number;
}

export class ReceiptsService {
  readonly #listeners: Array<(r: ReceiptChange) => void> = [];
  readonly #db: Knex;
  readonly #bus: NotifyBus;
  readonly #reader: TimelineReader;
  readonly #accountData: AccountDataService;

  constructor(db: Knex, bus: NotifyBus, reader: TimelineReader, accountData: AccountDataService) {
    this.#db = db;
    this.#bus = bus;
    this.#reader = reader;
    this.#accountData = accountData;
  }

  /** Called after each receipt that moved (application services receive them). */
  onReceipt(listener: (r: ReceiptChange) => void): void {
    this.#listeners.push(listener);
  }

  async setReceipt(userId: string, roomId: string, type: string, eventId: string, threadId: string | undefined): Promise<void> {
    if (type === 'm.fully_read') {
      await this.setFullyRead(userId, roomId, eventId);
      return;
    }
    if (!(RECEIPT_TYPES as readonly string[]).includes(type)) throw new MatrixError(400, 'M_INVALID_PARAM', `Unknown receipt type ${type}.`);
    if (threadId !== undefined && threadId.length === 0) throw new MatrixError(400, 'M_INVALID_PARAM', 'Empty thread_id.');
    const event = await this.#visibleEvent(userId, roomId, eventId);
    const existing = await receiptsRepo.findReceipt(this.#db, roomId, userId, type, threadId === 'main' ? 'main' : (threadId ?? ''));
    // Receipts only move forward: an older event leaves the receipt where it is.
    if (existing && existing.event_stream_pos >= event.streamPos) return;
    let pos = 0;
    const ts = Date.now();
    await this.#db.transaction(async (trx) => {
      pos = await nextStreamPos(trx);
      await receiptsRepo.upsertReceipt(trx, {
        room_id: roomId,
        user_id: userId,
        receipt_type: type,
        thread_id: threadId ?? '',
        event_id: eventId,
        event_stream_pos: event.streamPos,
        ts,
        stream_pos: pos,
      });
    });
    this.#bus.publish({ pos, rooms: [roomId], users: [userId] });
    for (const listener of this.#listeners) listener({ roomId, userId, type, eventId, threadId, ts });
  }

  async setFullyRead(userId: string, roomId: string, eventId: string): Promise<void> {
    await this.#visibleEvent(userId, roomId, eventId);
    await this.#accountData.set(userId, roomId, 'm.fully_read', { event_id: eventId });
  }

  async #visibleEvent(userId: string, roomId: string, eventId: string): Promise<eventsRepo.StoredEvent> {
    const access = await this.#reader.access(userId, roomId);
    const e = await eventsRepo.findEvent(this.#db, eventId);
    if (!e || e.pdu.room_id !== roomId || !access.rules.canSee(e)) throw notFound('Event not found.');
    return e;
  }
}
