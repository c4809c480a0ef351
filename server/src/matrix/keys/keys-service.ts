import type { Knex } from 'knex';
import { forbidden, invalidParam, missingParam } from '../../errors.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import * as deviceLists from '../../storage/device-lists.ts';
import * as devicesRepo from '../../storage/devices.ts';
import * as keysRepo from '../../storage/e2e-keys.ts';
import * as toDeviceRepo from '../../storage/to-device.ts';
import { canonicalSize, invalidSignature, isObject, signedBy, signedPart, singleEd25519, withSignatures, type Json, type Signatures } from './key-objects.ts';

export interface DeviceKeys {
  user_id: string;
  device_id: string;
  algorithms: string[];
  keys: Record<string, string>;
  signatures: Signatures;
  [k: string]: unknown;
}

export interface CrossSigningKey {
  user_id: string;
  usage: string[];
  keys: Record<string, string>;
  signatures?: Signatures | undefined;
  [k: string]: unknown;
}

export interface CrossSigningUpload {
  master_key?: CrossSigningKey | undefined;
  self_signing_key?: CrossSigningKey | undefined;
  user_signing_key?: CrossSigningKey | undefined;
}

/** At most this many one-time keys per device: a client that floods the table is refused. */
const MAX_ONE_TIME_KEYS = 1000;
const USAGES = { master_key: 'master', self_signing_key: 'self_signing', user_signing_key: 'user_signing' } as const;

/**
 * Device and cross-signing keys, one-time and fallback keys, signatures. Every change other
 * devices must refetch is a device-list change with a stream position, published to the
 * user and to the rooms the user is in.
 */
export class KeysService {
  readonly #db: Knex;
  readonly #bus: NotifyBus;

  constructor(db: Knex, bus: NotifyBus) {
    this.#db = db;
    this.#bus = bus;
  }

  async upload(
    userId: string,
    deviceId: string,
    body: { device_keys?: DeviceKeys | undefined; one_time_keys?: Record<string, unknown> | undefined; fallback_keys?: Record<string, unknown> | undefined },
  ): Promise<{ one_time_key_counts: Record<string, number> }> {
    const db = this.#db;
    let deviceKeysChanged = false;
    if (body.device_keys) {
      const dk = body.device_keys;
      if (dk.user_id !== userId || dk.device_id !== deviceId) throw invalidParam('device_keys must be for the device of this access token.');
      canonicalSize(dk, 'device_keys');
      const ed = dk.keys[`ed25519:${deviceId}`];
      if (typeof ed !== 'string') throw invalidParam(`device_keys.keys must hold ed25519:${deviceId}.`);
      if (!signedBy(dk, userId, `ed25519:${deviceId}`, ed)) throw invalidSignature('device_keys must be signed by the device’s own ed25519 key.');
      const existing = await keysRepo.findDeviceKeys(db, userId, deviceId);
      deviceKeysChanged = !existing || signedPart(existing) !== signedPart(dk);
    }
    const oneTime = body.one_time_keys ? parseKeyMap(userId, deviceId, body.one_time_keys, 'one_time_keys') : [];
    const fallback = body.fallback_keys ? parseKeyMap(userId, deviceId, body.fallback_keys, 'fallback_keys') : [];
    if (oneTime.length > MAX_ONE_TIME_KEYS) throw invalidParam(`At most ${MAX_ONE_TIME_KEYS} one-time keys per upload.`);
    if (new Set(fallback.map((k) => k.algorithm)).size !== fallback.length) throw invalidParam('At most one fallback key per algorithm.');

    let pos: number | undefined;
    await db.transaction(async (trx) => {
      if (oneTime.length > 0) {
        // A key ID uploaded again must carry the same key (a client retrying); another key is refused.
        const known = await keysRepo.findOneTimeKeys(trx, userId, deviceId, oneTime.map((k) => k.key_id));
        for (const k of oneTime) {
          if (known.has(k.key_id) && JSON.stringify(known.get(k.key_id)) !== JSON.stringify(k.key)) throw invalidParam(`One-time key ${k.key_id} already exists with another value.`);
        }
        const counts = await keysRepo.countOneTimeKeys(trx, userId, deviceId);
        const held = Object.values(counts).reduce((a, b) => a + b, 0);
        if (held + oneTime.length - known.size > MAX_ONE_TIME_KEYS) throw invalidParam(`A device holds at most ${MAX_ONE_TIME_KEYS} one-time keys.`);
        await keysRepo.insertOneTimeKeys(trx, oneTime);
      }
      for (const k of fallback) {
        const current = await keysRepo.findFallbackKey(trx, userId, deviceId, k.algorithm);
        // The same key again keeps its used flag; a new one is unused.
        if (!current || current.key_id !== k.key_id || JSON.stringify(current.key) !== JSON.stringify(k.key)) await keysRepo.upsertFallbackKey(trx, k);
      }
      if (body.device_keys && deviceKeysChanged) {
        await keysRepo.upsertDeviceKeys(trx, userId, deviceId, body.device_keys);
        pos = await deviceLists.recordDeviceListChange(trx, [userId]);
      }
    });
    if (pos !== undefined) await this.#publish(pos, [userId]);
    return { one_time_key_counts: await keysRepo.countOneTimeKeys(db, userId, deviceId) };
  }

  async query(requesterId: string, wanted: Record<string, string[]>): Promise<Json> {
    const db = this.#db;
    const userIds = Object.keys(wanted);
    const [devices, crossKeys, signatures] = await Promise.all([
      keysRepo.deviceKeysOf(db, userIds),
      keysRepo.crossSigningKeysOf(db, userIds),
      keysRepo.signaturesOf(db, userIds),
    ]);
    const sigsFor = new Map<string, Array<{ signer: string; keyId: string; signature: string }>>();
    for (const s of signatures) {
      const k = `${s.target_user_id}\u0000${s.target_key_id}`;
      sigsFor.set(k, [...(sigsFor.get(k) ?? []), { signer: s.signer_user_id, keyId: s.signer_key_id, signature: s.signature }]);
    }
    const deviceKeys: Record<string, Record<string, Json>> = {};
    for (const u of userIds) deviceKeys[u] = {};
    for (const d of devices) {
      const only = wanted[d.user_id]!;
      if (only.length > 0 && !only.includes(d.device_id)) continue;
      const keys = withSignatures(d.keys, sigsFor.get(`${d.user_id}\u0000${d.device_id}`) ?? []);
      const unsigned = isObject(keys.unsigned) ? keys.unsigned : {};
      deviceKeys[d.user_id]![d.device_id] = d.display_name !== null ? { ...keys, unsigned: { ...unsigned, device_display_name: d.display_name } } : keys;
    }
    const out: Json = { device_keys: deviceKeys, failures: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {} };
    for (const k of crossKeys) {
      // Someone's user-signing key tells whom they verified: only they see it.
      if (k.usage === 'user_signing' && k.user_id !== requesterId) continue;
      const pub = k.key_id.slice('ed25519:'.length);
      const section = out[`${k.usage}_keys`] as Record<string, Json>;
      section[k.user_id] = withSignatures(k.key, sigsFor.get(`${k.user_id}\u0000${pub}`) ?? []);
    }
    return out;
  }

  async claim(wanted: Record<string, Record<string, string>>): Promise<Json> {
    const oneTimeKeys: Record<string, Record<string, Record<string, unknown>>> = {};
    for (const [userId, devices] of Object.entries(wanted)) {
      for (const [deviceId, algorithm] of Object.entries(devices)) {
        const key =
          (await keysRepo.claimOneTimeKey(this.#db, userId, deviceId, algorithm)) ??
          (await keysRepo.claimFallbackKey(this.#db, userId, deviceId, algorithm));
        if (!key) continue;
        ((oneTimeKeys[userId] ??= {})[deviceId] ??= {})[key.key_id] = key.key;
      }
    }
    return { one_time_keys: oneTimeKeys, failures: {} };
  }

  /** Users whose device lists changed in (from, to], as /keys/changes reports them. */
  async changes(userId: string, from: number, to: number): Promise<{ changed: string[]; left: string[] }> {
    return deviceLists.deviceListDelta(this.#db, userId, from, to);
  }

  /** Whether an upload of cross-signing keys needs user-interactive auth (spec 1.11 rules). */
  async crossSigningNeedsAuth(userId: string, body: CrossSigningUpload): Promise<boolean> {
    const stored = new Map((await keysRepo.crossSigningKeysOf(this.#db, [userId])).map((k) => [k.usage, k]));
    if (!stored.has('master')) return false;
    for (const [field, usage] of Object.entries(USAGES) as Array<[keyof CrossSigningUpload, string]>) {
      const key = body[field];
      if (key === undefined) continue;
      const current = stored.get(usage);
      if (!current || !sameKey(current.key, key)) return true;
    }
    return false;
  }

  async uploadCrossSigning(userId: string, body: CrossSigningUpload): Promise<void> {
    const db = this.#db;
    const stored = new Map((await keysRepo.crossSigningKeysOf(db, [userId])).map((k) => [k.usage, k]));
    const rows: keysRepo.CrossSigningKeyRow[] = [];
    let master: [string, string] | undefined = stored.has('master') ? singleEd25519(stored.get('master')!.key.keys as Record<string, string>, 'master') : undefined;
    if (body.master_key) master = checkCrossSigningKey(userId, body.master_key, 'master');
    const devices = new Set((await devicesRepo.listDevices(db, userId)).map((d) => d.device_id));
    for (const [field, usage] of Object.entries(USAGES) as Array<[keyof CrossSigningUpload, string]>) {
      const key = body[field];
      if (!key) continue;
      const [keyId, pub] = usage === 'master' ? master! : checkCrossSigningKey(userId, key, usage);
      if (devices.has(pub)) throw forbidden('The public key of a cross-signing key is one of the user’s device IDs.');
      if (usage !== 'master') {
        if (!master) throw missingParam('No master signing key is available.');
        if (!signedBy(key, userId, master[0], master[1])) throw invalidSignature(`${field} is not signed by the master key.`);
      }
      rows.push({ user_id: userId, usage, key_id: keyId, key });
    }
    if (rows.length === 0) return;
    let pos = 0;
    await db.transaction(async (trx) => {
      for (const r of rows) await keysRepo.upsertCrossSigningKey(trx, r);
      pos = await deviceLists.recordDeviceListChange(trx, [userId]);
    });
    await this.#publish(pos, [userId]);
  }

  /**
   * Signatures of the requester on keys: own devices (with the self-signing key), own master
   * key (with a device key), other users' master keys (with the user-signing key). Each
   * signature is checked against the key as the server stores it.
   */
  async uploadSignatures(userId: string, body: Record<string, Record<string, Json>>): Promise<{ failures: Record<string, Record<string, Json>> }> {
    const db = this.#db;
    const targets = Object.keys(body);
    const failures: Record<string, Record<string, Json>> = {};
    const fail = (u: string, k: string, errcode: string, error: string) => ((failures[u] ??= {})[k] = { errcode, error });
    const [crossKeys, devices] = await Promise.all([keysRepo.crossSigningKeysOf(db, [...new Set([userId, ...targets])]), keysRepo.deviceKeysOf(db, [userId, ...targets])]);
    const cross = new Map(crossKeys.map((k) => [`${k.user_id}\u0000${k.usage}`, k]));
    const deviceOf = new Map(devices.map((d) => [`${d.user_id}\u0000${d.device_id}`, d.keys]));
    const mySigners = new Map<string, string>(); // key id -> public key, for the requester's signing keys
    for (const usage of ['self_signing', 'user_signing']) {
      const k = cross.get(`${userId}\u0000${usage}`);
      if (k) mySigners.set(k.key_id, k.key_id.slice(8));
    }
    const myDeviceKeyIds: string[] = [];
    for (const d of devices.filter((x) => x.user_id === userId)) {
      const ed = (d.keys.keys as Record<string, string> | undefined)?.[`ed25519:${d.device_id}`];
      if (typeof ed === 'string') {
        mySigners.set(`ed25519:${d.device_id}`, ed);
        myDeviceKeyIds.push(`ed25519:${d.device_id}`);
      }
    }
    const rows: keysRepo.SignatureRow[] = [];
    for (const [target, byKey] of Object.entries(body)) {
      for (const [keyId, obj] of Object.entries(byKey)) {
        let stored: Json | undefined;
        let allowed: string[]; // key ids of the requester that may sign this target
        const master = cross.get(`${target}\u0000master`);
        if (master && master.key_id === `ed25519:${keyId}`) {
          stored = master.key;
          allowed = target === userId ? myDeviceKeyIds : [cross.get(`${userId}\u0000user_signing`)?.key_id ?? ''];
        } else if (target === userId && deviceOf.has(`${userId}\u0000${keyId}`)) {
          stored = deviceOf.get(`${userId}\u0000${keyId}`);
          allowed = [cross.get(`${userId}\u0000self_signing`)?.key_id ?? ''];
        } else {
          fail(target, keyId, 'M_NOT_FOUND', 'No such key, or not one the requester may sign.');
          continue;
        }
        const sigs = isObject(obj) && isObject(obj.signatures) && isObject(obj.signatures[userId]) ? (obj.signatures[userId] as Record<string, unknown>) : {};
        let accepted = 0;
        for (const [signerKeyId, sig] of Object.entries(sigs)) {
          if (!allowed.includes(signerKeyId) || typeof sig !== 'string') continue;
          // Checked over the stored key: a signature of anything else is worthless.
          const candidate = { ...stored!, signatures: { [userId]: { [signerKeyId]: sig } } };
          if (!signedBy(candidate, userId, signerKeyId, mySigners.get(signerKeyId) ?? '')) continue;
          rows.push({ target_user_id: target, target_key_id: keyId, signer_user_id: userId, signer_key_id: signerKeyId, signature: sig });
          accepted++;
        }
        if (accepted === 0) fail(target, keyId, 'M_INVALID_SIGNATURE', 'No valid signature of the requester on this key.');
      }
    }
    if (rows.length > 0) {
      const changedUsers = [...new Set(rows.map((r) => r.target_user_id))];
      let pos = 0;
      await db.transaction(async (trx) => {
        await keysRepo.upsertSignatures(trx, rows);
        pos = await deviceLists.recordDeviceListChange(trx, changedUsers);
      });
      await this.#publish(pos, changedUsers);
    }
    return { failures };
  }

  /** A device was logged out or deleted: its keys and messages go, and others must know. */
  async devicesRemoved(userId: string, deviceIds: string[] | 'all'): Promise<void> {
    if (deviceIds !== 'all' && deviceIds.length === 0) return;
    let pos = 0;
    await this.#db.transaction(async (trx) => {
      await keysRepo.deleteDeviceKeys(trx, userId, deviceIds);
      await toDeviceRepo.deleteForDevices(trx, userId, deviceIds);
      pos = await deviceLists.recordDeviceListChange(trx, [userId]);
    });
    await this.#publish(pos, [userId]);
  }

  async #publish(pos: number, userIds: string[]): Promise<void> {
    const rooms = new Set<string>();
    for (const u of userIds) for (const r of await deviceLists.joinedRoomsOf(this.#db, u)) rooms.add(r);
    this.#bus.publish({ pos, users: userIds, rooms });
  }
}

function sameKey(a: Json, b: Json): boolean {
  return signedPart(a) === signedPart(b) && JSON.stringify(a.signatures ?? {}) === JSON.stringify(b.signatures ?? {});
}

function checkCrossSigningKey(userId: string, key: CrossSigningKey, usage: string): [string, string] {
  if (key.user_id !== userId) throw invalidParam(`The ${usage} key must be for the requesting user.`);
  if (!key.usage.includes(usage)) throw invalidParam(`The ${usage} key must have usage ${usage}.`);
  canonicalSize(key, `The ${usage} key`);
  return singleEd25519(key.keys, `The ${usage} key`);
}

/** `<algorithm>:<id>` -> key, for one-time and fallback keys. */
function parseKeyMap(userId: string, deviceId: string, map: Record<string, unknown>, what: string): keysRepo.OneTimeKeyRow[] {
  const rows: keysRepo.OneTimeKeyRow[] = [];
  for (const [keyId, key] of Object.entries(map)) {
    const colon = keyId.indexOf(':');
    if (colon <= 0 || colon === keyId.length - 1 || keyId.length > 255) throw invalidParam(`${what}: key IDs are <algorithm>:<id>.`);
    if (typeof key !== 'string' && !(isObject(key) && typeof key.key === 'string')) throw invalidParam(`${what}: ${keyId} is neither a key nor a signed key.`);
    canonicalSize(key, `${what}: ${keyId}`);
    rows.push({ user_id: userId, device_id: deviceId, algorithm: keyId.slice(0, colon), key_id: keyId, key });
  }
  return rows;
}
