import type { Knex } from 'knex';
import type { Logger } from '../../logger.ts';
import * as repo from '../../storage/media.ts';
import type { BlobStore } from './blob-store.ts';

export interface MediaGcSettings {
  /** Blobs written more recently than this are kept even when nothing refers to them yet. */
  blobGraceMs: number;
}

export interface MediaGcResult {
  expiredReservations: number;
  removedBlobs: number;
  removedBytes: number;
}

const BATCH = 500;

/**
 * Media garbage collection, one run (PeriodicJob runs it on one node at a time):
 * 1. reservations made with POST /create whose `unused_expires_at` passed without an upload are
 *    deleted (the spec lets the server forget them);
 * 2. blobs no media or thumbnail row refers to are removed from the store. An upload writes its
 *    blob before its row, so only blobs older than a grace period go, and the store's
 *    removeIfOlder keeps a blob that an upload of the same bytes rewrites meanwhile.
 * Quarantined media keep their rows, so their blobs stay (evidence) and stay unreadable.
 */
export class MediaGc {
  readonly #db: Knex;
  readonly #store: BlobStore;
  readonly #log: Logger;
  readonly #settings: MediaGcSettings;

  constructor(db: Knex, store: BlobStore, log: Logger, settings: MediaGcSettings) {
    this.#db = db;
    this.#store = store;
    this.#log = log;
    this.#settings = settings;
  }

  async run(now = Date.now()): Promise<MediaGcResult> {
    const result: MediaGcResult = { expiredReservations: 0, removedBlobs: 0, removedBytes: 0 };
    for (;;) {
      const ids = await repo.deleteExpiredReservations(this.#db, now, BATCH);
      result.expiredReservations += ids.length;
      if (ids.length < BATCH) break;
    }
    const before = now - this.#settings.blobGraceMs;
    let batch: Array<{ sha256: string; writtenMs: number }> = [];
    const sweep = async () => {
      const referenced = await repo.referencedHashes(this.#db, batch.map((b) => b.sha256));
      for (const b of batch) {
        if (referenced.has(b.sha256)) continue;
        const size = await this.#store.size(b.sha256);
        if (await this.#store.removeIfOlder(b.sha256, before)) {
          result.removedBlobs++;
          result.removedBytes += size ?? 0;
        }
      }
      batch = [];
    };
    for await (const blob of this.#store.list()) {
      if (blob.writtenMs >= before) continue;
      batch.push(blob);
      if (batch.length >= BATCH) await sweep();
    }
    await sweep();
    if (result.expiredReservations > 0 || result.removedBlobs > 0) this.#log.info({ ...result }, 'media garbage collected');
    return result;
  }
}
