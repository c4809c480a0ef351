import type { Knex } from 'knex';

/** Public keys of devices and users (the server never sees a private key). */

type Json = Record<string, unknown>;

function parse<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

export async function upsertDeviceKeys(db: Knex, userId: string, deviceId: string, keys: Json): Promise<void> {
  await db('e2e_device_keys')
    .insert({ user_id: userId, device_id: deviceId, keys: JSON.stringify(keys) })
    .onConflict(['user_id', 'device_id'])
    .merge(['keys']);
}

export async function findDeviceKeys(db: Knex, userId: string, deviceId: string): Promise<Json | undefined> {
  const row = await db('e2e_device_keys').where({ user_id: userId, device_id: deviceId }).first('keys');
  return row ? parse<Json>(row.keys) : undefined;
}

export interface DeviceKeysRow {
  user_id: string;
  device_id: string;
  keys: Json;
  display_name: string | null;
}

/** Device keys of the users' existing devices, with each device's display name. */
export async function deviceKeysOf(db: Knex, userIds: string[]): Promise<DeviceKeysRow[]> {
  if (userIds.length === 0) return [];
  const rows = await db('e2e_device_keys as k')
    .join('devices as d', function () {
      this.on('d.user_id', 'k.user_id').andOn('d.device_id', 'k.device_id');
    })
    .whereIn('k.user_id', userIds)
    .select('k.user_id', 'k.device_id', 'k.keys', 'd.display_name');
  return rows.map((r: DeviceKeysRow) => ({ ...r, keys: parse<Json>(r.keys) }));
}

export interface OneTimeKeyRow {
  user_id: string;
  device_id: string;
  algorithm: string;
  key_id: string;
  key: unknown;
}

export async function findOneTimeKeys(db: Knex, userId: string, deviceId: string, keyIds: string[]): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  if (keyIds.length === 0) return out;
  const rows = await db('e2e_one_time_keys').where({ user_id: userId, device_id: deviceId }).whereIn('key_id', keyIds).select('key_id', 'key');
  for (const r of rows as Array<{ key_id: string; key: unknown }>) out.set(r.key_id, parse(r.key));
  return out;
}

export async function insertOneTimeKeys(db: Knex, rows: OneTimeKeyRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db('e2e_one_time_keys')
    .insert(rows.map((r) => ({ ...r, key: JSON.stringify(r.key) })))
    .onConflict(['user_id', 'device_id', 'key_id'])
    .ignore();
}

export async function countOneTimeKeys(db: Knex, userId: string, deviceId: string): Promise<Record<string, number>> {
  const rows = await db('e2e_one_time_keys').where({ user_id: userId, device_id: deviceId }).groupBy('algorithm').select('algorithm').count({ n: '*' });
  const out: Record<string, number> = {};
  for (const r of rows as Array<{ algorithm: string; n: string | number }>) out[r.algorithm] = Number(r.n);
  return out;
}

/**
 * Takes the oldest one-time key of a device for an algorithm, removing it. SKIP LOCKED: two
 * concurrent claims never get the same key (the spec requires each key to be handed out once).
 */
export async function claimOneTimeKey(db: Knex, userId: string, deviceId: string, algorithm: string): Promise<{ key_id: string; key: unknown } | undefined> {
  const result = await db.raw(
    `DELETE FROM e2e_one_time_keys WHERE (user_id, device_id, key_id) IN (
       SELECT user_id, device_id, key_id FROM e2e_one_time_keys
       WHERE user_id = ? AND device_id = ? AND algorithm = ?
       ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING key_id, key`,
    [userId, deviceId, algorithm],
  );
  const row = (result.rows as Array<{ key_id: string; key: unknown }>)[0];
  return row ? { key_id: row.key_id, key: parse(row.key) } : undefined;
}

export async function upsertFallbackKey(db: Knex, row: OneTimeKeyRow): Promise<void> {
  await db('e2e_fallback_keys')
    .insert({ ...row, key: JSON.stringify(row.key), used: false })
    .onConflict(['user_id', 'device_id', 'algorithm'])
    .merge(['key_id', 'key', 'used']);
}

export async function findFallbackKey(db: Knex, userId: string, deviceId: string, algorithm: string): Promise<{ key_id: string; key: unknown } | undefined> {
  const row = await db('e2e_fallback_keys').where({ user_id: userId, device_id: deviceId, algorithm }).first('key_id', 'key');
  return row ? { key_id: row.key_id, key: parse(row.key) } : undefined;
}

/** Hands out the device's fallback key (it stays, marked used, until the device replaces it). */
export async function claimFallbackKey(db: Knex, userId: string, deviceId: string, algorithm: string): Promise<{ key_id: string; key: unknown } | undefined> {
  const rows = await db('e2e_fallback_keys').where({ user_id: userId, device_id: deviceId, algorithm }).update({ used: true }).returning(['key_id', 'key']);
  const row = (rows as Array<{ key_id: string; key: unknown }>)[0];
  return row ? { key_id: row.key_id, key: parse(row.key) } : undefined;
}

export interface CrossSigningKeyRow {
  user_id: string;
  usage: string;
  key_id: string;
  key: Json;
}

export async function upsertCrossSigningKey(db: Knex, row: CrossSigningKeyRow): Promise<void> {
  await db('e2e_cross_signing_keys')
    .insert({ ...row, key: JSON.stringify(row.key) })
    .onConflict(['user_id', 'usage'])
    .merge(['key_id', 'key']);
}

export async function crossSigningKeysOf(db: Knex, userIds: string[]): Promise<CrossSigningKeyRow[]> {
  if (userIds.length === 0) return [];
  const rows = await db('e2e_cross_signing_keys').whereIn('user_id', userIds).select('user_id', 'usage', 'key_id', 'key');
  return rows.map((r: CrossSigningKeyRow) => ({ ...r, key: parse<Json>(r.key) }));
}

export interface SignatureRow {
  target_user_id: string;
  target_key_id: string;
  signer_user_id: string;
  signer_key_id: string;
  signature: string;
}

export async function upsertSignatures(db: Knex, rows: SignatureRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db('e2e_signatures')
    .insert(rows)
    .onConflict(['target_user_id', 'target_key_id', 'signer_user_id', 'signer_key_id'])
    .merge(['signature']);
}

export async function signaturesOf(db: Knex, userIds: string[]): Promise<SignatureRow[]> {
  if (userIds.length === 0) return [];
  return db('e2e_signatures').whereIn('target_user_id', userIds);
}

/** Everything a removed device published: its keys and the signatures made of them. */
export async function deleteDeviceKeys(db: Knex, userId: string, deviceIds: string[] | 'all'): Promise<void> {
  const scoped = (table: string) => {
    const q = db(table).where({ user_id: userId });
    return deviceIds === 'all' ? q : q.whereIn('device_id', deviceIds);
  };
  await scoped('e2e_device_keys').delete();
  await scoped('e2e_one_time_keys').delete();
  await scoped('e2e_fallback_keys').delete();
  const sigs = db('e2e_signatures').where({ target_user_id: userId });
  if (deviceIds === 'all') {
    // Cross-signing keys are the user's, not a device's: their signatures stay.
    await sigs.whereNotIn('target_key_id', db('e2e_cross_signing_keys').where({ user_id: userId }).select(db.raw('substr(key_id, 9)'))).delete();
  } else {
    await sigs.whereIn('target_key_id', deviceIds).delete();
  }
}
