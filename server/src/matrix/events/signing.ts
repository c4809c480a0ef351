// Ed25519 signing of JSON objects and events (spec appendix "Signing JSON",
// server-server spec "Signing Events"), plus the Synapse-compatible signing
// key file so an operator can move a key between implementations.

import { createPrivateKey, createPublicKey, randomBytes, randomInt, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { canonicalJson } from './canonical-json.ts';
import { computeContentHash } from './hashes.ts';
import type { RoomVersion } from './pdu.ts';
import { redactEventObject } from './redaction.ts';
import { wireForm } from './wire-form.ts';

/** A server signing key: `keyId` is '<algorithm>:<version>', e.g. 'ed25519:a1B2c3'. */
export interface SigningKey {
  keyId: string;
  seed: Buffer; // the 32-byte ed25519 seed (what the key file stores)
}

export type Signatures = Record<string, Record<string, string>>;

export class SigningKeyError extends Error {
  override name = 'SigningKeyError';
}

// node:crypto takes raw ed25519 keys only wrapped in DER; these are the fixed
// PKCS#8 / SPKI prefixes for a 32-byte ed25519 key (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function generateSigningKey(): SigningKey {
  let version = '';
  for (let i = 0; i < 6; i++) version += ALNUM[randomInt(ALNUM.length)];
  return { keyId: `ed25519:${version}`, seed: randomBytes(32) };
}

// Deriving a KeyObject parses DER each time; events are signed constantly.
const privateKeys = new WeakMap<SigningKey, KeyObject>();

function privateKeyOf(key: SigningKey): KeyObject {
  let k = privateKeys.get(key);
  if (!k) {
    if (key.seed.length !== 32) throw new SigningKeyError('ed25519 seed must be 32 bytes');
    k = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, key.seed]), format: 'der', type: 'pkcs8' });
    privateKeys.set(key, k);
  }
  return k;
}

/** The raw 32-byte public key. */
export function publicKeyOf(key: SigningKey): Buffer {
  const der = createPublicKey(privateKeyOf(key)).export({ format: 'der', type: 'spki' });
  return der.subarray(SPKI_ED25519_PREFIX.length);
}

/** Public key as published in `verify_keys`: unpadded base64. */
export function publicKeyBase64(key: SigningKey): string {
  return encodeBase64(publicKeyOf(key));
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

// ---------------------------------------------------------------- key file

/**
 * Parse a Synapse-style signing key file: one key per line,
 * `<algorithm> <version> <unpadded base64 seed>`. Blank lines are ignored.
 */
export function parseSigningKeys(text: string): SigningKey[] {
  const keys: SigningKey[] = [];
  for (const [i, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (line === '') continue;
    const parts = line.split(/\s+/);
    if (parts.length !== 3) throw new SigningKeyError(`signing key line ${i + 1}: expected "<alg> <version> <seed>"`);
    const [alg, version, seedB64] = parts as [string, string, string];
    if (alg !== 'ed25519') throw new SigningKeyError(`signing key line ${i + 1}: unsupported algorithm ${alg}`);
    if (!/^[A-Za-z0-9_]+$/.test(version)) {
      throw new SigningKeyError(`signing key line ${i + 1}: key version must be [A-Za-z0-9_]`);
    }
    let seed: Buffer;
    try {
      seed = decodeBase64(seedB64);
    } catch {
      throw new SigningKeyError(`signing key line ${i + 1}: seed is not valid base64`);
    }
    if (seed.length !== 32) throw new SigningKeyError(`signing key line ${i + 1}: seed must decode to 32 bytes`);
    keys.push({ keyId: `${alg}:${version}`, seed });
  }
  return keys;
}

/** One key file line (with trailing newline). */
export function formatSigningKey(key: SigningKey): string {
  const colon = key.keyId.indexOf(':');
  return `${key.keyId.slice(0, colon)} ${key.keyId.slice(colon + 1)} ${encodeBase64(key.seed)}\n`;
}

/** Read the first key of a signing key file. */
export async function loadSigningKey(path: string): Promise<SigningKey> {
  const keys = parseSigningKeys(await readFile(path, 'utf8'));
  const first = keys[0];
  if (!first) throw new SigningKeyError(`${path}: no signing key found`);
  return first;
}

/** Write a key file readable only by its owner: the seed is the server's identity. */
export async function saveSigningKey(path: string, key: SigningKey): Promise<void> {
  await writeFile(path, formatSigningKey(key), { mode: 0o600 });
}

// ---------------------------------------------------------------- JSON

function signingPayload(obj: object): string {
  // `signatures` and `unsigned` are outside the signature so that other
  // parties can add signatures or transit data without invalidating it.
  const { signatures: _s, unsigned: _u, ...rest } = obj as Record<string, unknown>;
  return canonicalJson(rest);
}

/** The bare base64 signature of `obj` (for callers that place it themselves). */
export function signatureOf(obj: object, key: SigningKey): string {
  return encodeBase64(sign(null, Buffer.from(signingPayload(obj), 'utf8'), privateKeyOf(key)));
}

/**
 * Sign a JSON object: returns a copy of `obj` whose `signatures[serverName][keyId]`
 * holds the signature; existing signatures (and `unsigned`) are preserved.
 */
export function signJson<T extends object>(obj: T, serverName: string, key: SigningKey): T & { signatures: Signatures } {
  const existing = ((obj as { signatures?: Signatures }).signatures ?? {}) as Signatures;
  const signatures: Signatures = structuredClone(existing);
  signatures[serverName] = { ...signatures[serverName], [key.keyId]: signatureOf(obj, key) };
  return { ...obj, signatures };
}

/**
 * Check `signatures[serverName][keyId]` on `obj` against an ed25519 public
 * key (raw bytes or unpadded base64). Any malformation is a failed check,
 * never an exception: the input usually comes from elsewhere.
 */
export function verifyJsonSignature(
  obj: object,
  serverName: string,
  keyId: string,
  publicKey: Uint8Array | string,
): boolean {
  if (!keyId.startsWith('ed25519:')) return false; // only algorithm we understand
  const signatures = (obj as { signatures?: unknown }).signatures;
  if (typeof signatures !== 'object' || signatures === null) return false;
  const forServer = (signatures as Record<string, unknown>)[serverName];
  if (typeof forServer !== 'object' || forServer === null) return false;
  const sigB64 = (forServer as Record<string, unknown>)[keyId];
  if (typeof sigB64 !== 'string') return false;
  try {
    const sig = decodeBase64(sigB64);
    const raw = typeof publicKey === 'string' ? decodeBase64(publicKey) : publicKey;
    if (raw.length !== 32 || sig.length !== 64) return false;
    return verify(null, Buffer.from(signingPayload(obj), 'utf8'), publicKeyObject(raw), sig);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- events

/**
 * Hash and sign an event for sending ("Adding hashes and signatures to
 * outgoing events"): sets `hashes.sha256`, then signs the REDACTED event so
 * the signature can still be checked after a redaction strips the content
 * (the content stays covered through the hash, which redaction keeps).
 * Returns a copy; a convenience `event_id` is carried over but not signed.
 */
export function signEvent<T extends object>(
  event: T,
  serverName: string,
  key: SigningKey,
  roomVersion: RoomVersion,
): T & { hashes: { sha256: string }; signatures: Signatures } {
  const hashes = { ...(event as { hashes?: Record<string, string> }).hashes, sha256: computeContentHash(event) };
  const hashed = { ...event, hashes };
  const redacted = redactEventObject(wireForm(hashed), roomVersion);
  const { signatures } = signJson(redacted, serverName, key);
  return { ...hashed, signatures: signatures as Signatures };
}

/** Check an event's signature from `serverName` (works on full or redacted copies). */
export function verifyEventSignature(
  event: object,
  serverName: string,
  keyId: string,
  publicKey: Uint8Array | string,
  roomVersion: RoomVersion,
): boolean {
  return verifyJsonSignature(redactEventObject(wireForm(event), roomVersion), serverName, keyId, publicKey);
}
