import type { Knex } from 'knex';
import type { Logger } from '../../../logger.ts';
import { findSmsMessageId, purgeSmsMessageIds, rememberSmsMessageIds, type SmsMessageIdRow } from '../../../storage/sms-message-ids.ts';

// Which delivery each SMSC message_id belongs to, for delivery receipts. Receipts come minutes
// or days after the submit, so the map lives in the database (sms_message_ids): a restart or
// another node bound to the same SMSC still finds the delivery. A recent window is kept in
// memory too, because an SMSC may send a receipt before the row is committed. The rows of the
// submits made in the same event-loop turn are written in one statement, and send() waits for
// it: a step is recorded as sent only once its receipts can be matched. A failed write is
// logged, never thrown: the SMS has gone, and failing the send would send it again. Without a
// database (unit tests, tools) the map is in memory only.

export interface MessageRef {
  deliveryId: string;
  /** The first part's message_id (the delivery's external_id). */
  firstId: string;
}

/** Entries kept in memory (recent submits). */
const MEMORY = 50_000;
/** Receipts older than this are not expected any more (SMSC validity periods are shorter). */
const KEEP_MS = 7 * 24 * 3600_000;
const PURGE_EVERY_MS = 3600_000;

export class SmsMessageIdStore {
  readonly #db: Knex | undefined;
  readonly #log: Logger | undefined;
  readonly #recent = new Map<string, MessageRef>();
  #queue: SmsMessageIdRow[] = [];
  #flushing: Promise<void> | undefined;
  #lastPurge = 0;

  constructor(db?: Knex, log?: Logger) {
    this.#db = db;
    this.#log = log;
  }

  /** Records the parts of one submitted SMS (ids in part order); resolves once stored. */
  async remember(ids: readonly string[], deliveryId: string): Promise<void> {
    const firstId = ids[0];
    if (firstId === undefined) return;
    const now = Date.now();
    for (const id of ids) {
      this.#recent.set(id, { deliveryId, firstId });
      if (this.#recent.size > MEMORY) this.#recent.delete(this.#recent.keys().next().value!);
      if (this.#db && /^\d{1,18}$/.test(deliveryId)) this.#queue.push({ message_id: id, delivery_id: Number(deliveryId), first_id: firstId, created_ts: now });
    }
    if (this.#queue.length > 0) await this.#flushSoon();
  }

  async lookup(messageId: string): Promise<MessageRef | undefined> {
    const recent = this.#recent.get(messageId);
    if (recent || !this.#db) return recent;
    const row = await findSmsMessageId(this.#db, messageId);
    return row ? { deliveryId: String(row.delivery_id), firstId: row.first_id } : undefined;
  }

  /** Everything queued in this turn goes in one statement. */
  #flushSoon(): Promise<void> {
    this.#flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const rows = this.#queue;
      this.#queue = [];
      this.#flushing = undefined;
      return this.#write(rows);
    });
    return this.#flushing;
  }

  async #write(rows: SmsMessageIdRow[]): Promise<void> {
    const db = this.#db!;
    try {
      await rememberSmsMessageIds(db, rows);
      const now = Date.now();
      if (now - this.#lastPurge > PURGE_EVERY_MS) {
        this.#lastPurge = now;
        await purgeSmsMessageIds(db, now - KEEP_MS);
      }
    } catch (err) {
      this.#log?.warn({ err: (err as Error).message, messages: rows.length }, 'could not store SMS message ids (their receipts match only on this node until a restart)');
    }
  }
}
