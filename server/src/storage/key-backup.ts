import type { Knex } from 'knex';

/** Server-side key backup: versions and the encrypted session keys stored under them. */

export interface BackupVersionRow {
  user_id: string;
  version: number;
  algorithm: string;
  auth_data: Record<string, unknown>;
  etag: number;
  deleted: boolean;
}

export interface BackupSessionRow {
  room_id: string;
  session_id: string;
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  session_data: Record<string, unknown>;
}

function parseVersion(r: BackupVersionRow): BackupVersionRow {
  return { ...r, version: Number(r.version), etag: Number(r.etag), auth_data: typeof r.auth_data === 'string' ? JSON.parse(r.auth_data) : r.auth_data };
}

/** A new version numbered after every earlier one, deleted ones included. */
export async function createVersion(trx: Knex.Transaction, userId: string, algorithm: string, authData: Record<string, unknown>): Promise<number> {
  // Serialises concurrent creations for one user (the row lock on the user).
  await trx('users').where({ user_id: userId }).forUpdate().first('user_id');
  const row = await trx('key_backup_versions').where({ user_id: userId }).max<{ v: string | number | null }>('version as v').first();
  const version = Number(row?.v ?? 0) + 1;
  await trx('key_backup_versions').insert({ user_id: userId, version, algorithm, auth_data: JSON.stringify(authData), etag: 0, deleted: false });
  return version;
}

/** A live version, or the latest live one when `version` is undefined. */
export async function findVersion(db: Knex, userId: string, version?: number): Promise<BackupVersionRow | undefined> {
  const q = db('key_backup_versions').where({ user_id: userId, deleted: false });
  const row = await (version === undefined ? q.orderBy('version', 'desc') : q.where({ version })).first();
  return row ? parseVersion(row) : undefined;
}

export async function updateAuthData(db: Knex, userId: string, version: number, authData: Record<string, unknown>): Promise<boolean> {
  return (await db('key_backup_versions').where({ user_id: userId, version, deleted: false }).update({ auth_data: JSON.stringify(authData) })) > 0;
}

export async function deleteVersion(trx: Knex.Transaction, userId: string, version: number): Promise<boolean> {
  const n = await trx('key_backup_versions').where({ user_id: userId, version, deleted: false }).update({ deleted: true });
  await trx('key_backup_sessions').where({ user_id: userId, version }).delete();
  return n > 0;
}

export async function countSessions(db: Knex, userId: string, version: number): Promise<number> {
  const row = await db('key_backup_sessions').where({ user_id: userId, version }).count<{ n: string | number }>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

export async function bumpEtag(trx: Knex.Transaction, userId: string, version: number): Promise<void> {
  await trx('key_backup_versions').where({ user_id: userId, version }).increment('etag', 1);
}

export async function sessions(db: Knex, userId: string, version: number, roomId?: string, sessionId?: string): Promise<BackupSessionRow[]> {
  const q = db('key_backup_sessions').where({ user_id: userId, version });
  if (roomId !== undefined) q.where({ room_id: roomId });
  if (sessionId !== undefined) q.where({ session_id: sessionId });
  const rows = await q.select('room_id', 'session_id', 'first_message_index', 'forwarded_count', 'is_verified', 'session_data');
  return rows.map((r: BackupSessionRow) => ({ ...r, session_data: typeof r.session_data === 'string' ? JSON.parse(r.session_data) : r.session_data }));
}

/** Existing sessions among the given ones, keyed `room_id\u0000session_id`, locked for the update. */
export async function lockSessions(trx: Knex.Transaction, userId: string, version: number, keys: Array<[string, string]>): Promise<Map<string, BackupSessionRow>> {
  const out = new Map<string, BackupSessionRow>();
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const rows = await trx('key_backup_sessions')
      .where({ user_id: userId, version })
      .whereIn(['room_id', 'session_id'], chunk)
      .forUpdate()
      .select('room_id', 'session_id', 'first_message_index', 'forwarded_count', 'is_verified');
    for (const r of rows as BackupSessionRow[]) out.set(`${r.room_id}\u0000${r.session_id}`, r);
  }
  return out;
}

export async function upsertSessions(trx: Knex.Transaction, userId: string, version: number, rows: BackupSessionRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await trx('key_backup_sessions')
      .insert(rows.slice(i, i + 500).map((r) => ({ ...r, user_id: userId, version, session_data: JSON.stringify(r.session_data) })))
      .onConflict(['user_id', 'version', 'room_id', 'session_id'])
      .merge(['first_message_index', 'forwarded_count', 'is_verified', 'session_data']);
  }
}

export async function deleteSessions(trx: Knex.Transaction, userId: string, version: number, roomId?: string, sessionId?: string): Promise<number> {
  const q = trx('key_backup_sessions').where({ user_id: userId, version });
  if (roomId !== undefined) q.where({ room_id: roomId });
  if (sessionId !== undefined) q.where({ session_id: sessionId });
  return (await q.delete().returning('session_id')).length;
}
