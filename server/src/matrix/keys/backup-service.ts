import type { Knex } from 'knex';
import { invalidParam, MatrixError, notFound } from '../../errors.ts';
import * as backupRepo from '../../storage/key-backup.ts';

export interface KeyBackupData {
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  session_data: Record<string, unknown>;
}

/** room -> session -> key, the shape of PUT /room_keys/keys. */
export type RoomKeys = Record<string, Record<string, KeyBackupData>>;

const noBackup = () => notFound('No backup found.');

/** The version query parameter; an unparsable one names no backup. */
export function parseBackupVersion(v: string | undefined): number {
  if (v === undefined) throw new MatrixError(400, 'M_MISSING_PARAM', 'The version parameter is required.');
  if (!/^[0-9]{1,15}$/.test(v)) throw noBackup();
  return Number(v);
}

/**
 * Server-side key backup. The server stores what the client encrypted with the backup's
 * public key; it only compares the metadata to keep the better key of a session.
 */
export class KeyBackupService {
  readonly #db: Knex;

  constructor(db: Knex) {
    this.#db = db;
  }

  async create(userId: string, algorithm: string, authData: Record<string, unknown>): Promise<string> {
    return String(await this.#db.transaction((trx) => backupRepo.createVersion(trx, userId, algorithm, authData)));
  }

  async info(userId: string, version?: number): Promise<Record<string, unknown>> {
    const row = await backupRepo.findVersion(this.#db, userId, version);
    if (!row) throw noBackup();
    return {
      algorithm: row.algorithm,
      auth_data: row.auth_data,
      count: await backupRepo.countSessions(this.#db, userId, row.version),
      etag: String(row.etag),
      version: String(row.version),
    };
  }

  async update(userId: string, version: number, body: { algorithm: string; auth_data: Record<string, unknown>; version?: string | undefined }): Promise<void> {
    if (body.version !== undefined && body.version !== String(version)) throw invalidParam('The version in the body does not match the path.');
    const row = await backupRepo.findVersion(this.#db, userId, version);
    if (!row) throw noBackup();
    if (row.algorithm !== body.algorithm) throw invalidParam('The algorithm of a backup cannot change.');
    await backupRepo.updateAuthData(this.#db, userId, version, body.auth_data);
  }

  async delete(userId: string, version: number): Promise<void> {
    const deleted = await this.#db.transaction((trx) => backupRepo.deleteVersion(trx, userId, version));
    if (!deleted) throw noBackup();
  }

  async getKeys(userId: string, version: number, roomId?: string, sessionId?: string): Promise<RoomKeys> {
    if (!(await backupRepo.findVersion(this.#db, userId, version))) throw noBackup();
    const out: RoomKeys = {};
    for (const s of await backupRepo.sessions(this.#db, userId, version, roomId, sessionId)) {
      (out[s.room_id] ??= {})[s.session_id] = {
        first_message_index: s.first_message_index,
        forwarded_count: s.forwarded_count,
        is_verified: s.is_verified,
        session_data: s.session_data,
      };
    }
    return out;
  }

  /**
   * Stores keys into the current version, keeping for each session the better of the stored
   * and the new key (spec: verified first, then the lower first message index, then the lower
   * forwarded count). Writing to an older version is refused with the current one.
   */
  async putKeys(userId: string, version: number, keys: RoomKeys): Promise<{ etag: string; count: number }> {
    return this.#db.transaction(async (trx) => {
      const current = await backupRepo.findVersion(trx, userId);
      if (!current || current.version !== version) {
        if (!(await backupRepo.findVersion(trx, userId, version))) throw noBackup();
        throw new MatrixError(403, 'M_WRONG_ROOM_KEYS_VERSION', 'This backup is not the current one.', { current_version: String(current!.version) });
      }
      const incoming: backupRepo.BackupSessionRow[] = [];
      for (const [roomId, sessions] of Object.entries(keys)) {
        for (const [sessionId, k] of Object.entries(sessions)) incoming.push({ room_id: roomId, session_id: sessionId, ...k });
      }
      const stored = await backupRepo.lockSessions(trx, userId, version, incoming.map((k) => [k.room_id, k.session_id]));
      const better = incoming.filter((k) => {
        const old = stored.get(`${k.room_id}\u0000${k.session_id}`);
        return !old || replaces(k, old);
      });
      if (better.length > 0) {
        await backupRepo.upsertSessions(trx, userId, version, better);
        await backupRepo.bumpEtag(trx, userId, version);
      }
      return this.#etagAndCount(trx, userId, version);
    });
  }

  async deleteKeys(userId: string, version: number, roomId?: string, sessionId?: string): Promise<{ etag: string; count: number }> {
    return this.#db.transaction(async (trx) => {
      if (!(await backupRepo.findVersion(trx, userId, version))) throw noBackup();
      if ((await backupRepo.deleteSessions(trx, userId, version, roomId, sessionId)) > 0) await backupRepo.bumpEtag(trx, userId, version);
      return this.#etagAndCount(trx, userId, version);
    });
  }

  async #etagAndCount(db: Knex, userId: string, version: number): Promise<{ etag: string; count: number }> {
    const row = await backupRepo.findVersion(db, userId, version);
    return { etag: String(row?.etag ?? 0), count: await backupRepo.countSessions(db, userId, version) };
  }
}

function replaces(k: KeyBackupData, old: Omit<KeyBackupData, 'session_data'>): boolean {
  if (k.is_verified !== old.is_verified) return k.is_verified;
  if (k.first_message_index !== old.first_message_index) return k.first_message_index < old.first_message_index;
  return k.forwarded_count < old.forwarded_count;
}
