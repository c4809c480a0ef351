import { invalidParam, MatrixError } from '../../errors.ts';
import { canonicalJson } from '../events/canonical-json.ts';
import { verifyJsonSignature } from '../events/signing.ts';

/** Checks on the public-key objects clients upload; the server stores them as given. */

export type Json = Record<string, unknown>;
export type Signatures = Record<string, Record<string, string>>;

export const MAX_KEY_OBJECT_BYTES = 16 * 1024;

export const invalidSignature = (msg: string) => new MatrixError(400, 'M_INVALID_SIGNATURE', msg);

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Canonical JSON or a 400: a key object with floats or huge numbers cannot be signed. */
export function canonicalSize(obj: unknown, what: string): number {
  let text: string;
  try {
    text = canonicalJson(obj);
  } catch {
    throw invalidParam(`${what} is not valid canonical JSON.`);
  }
  const size = Buffer.byteLength(text);
  if (size > MAX_KEY_OBJECT_BYTES) throw invalidParam(`${what} is too large.`);
  return size;
}

/** The only ed25519 key of a cross-signing key: [key id, public key]. */
export function singleEd25519(keys: Record<string, string>, what: string): [string, string] {
  const entries = Object.entries(keys);
  if (entries.length !== 1) throw invalidParam(`${what} must hold exactly one key.`);
  const [keyId, pub] = entries[0]!;
  if (keyId !== `ed25519:${pub}` || !/^[A-Za-z0-9+/]{43}$/.test(pub)) throw invalidParam(`${what} must hold one ed25519 key named ed25519:<public key>.`);
  return [keyId, pub];
}

/** Whether `obj` carries a valid signature of `signer` with the ed25519 key `keyId`. */
export function signedBy(obj: Json, signer: string, keyId: string, publicKey: string): boolean {
  return verifyJsonSignature(obj, signer, keyId, publicKey);
}

/** The object without its signatures and unsigned parts: what a signature covers. */
export function signedPart(obj: Json): string {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  return canonicalJson(rest);
}

/** Adds signatures (signer -> key id -> signature) to a copy of a key object. */
export function withSignatures(obj: Json, extra: Array<{ signer: string; keyId: string; signature: string }>): Json {
  if (extra.length === 0) return obj;
  const signatures: Signatures = {};
  for (const [signer, sigs] of Object.entries(isObject(obj.signatures) ? (obj.signatures as Signatures) : {})) signatures[signer] = { ...sigs };
  for (const s of extra) (signatures[s.signer] ??= {})[s.keyId] = s.signature;
  return { ...obj, signatures };
}
