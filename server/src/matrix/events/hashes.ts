// Content hashes and reference hashes / event IDs (server-server spec,
// "Calculating the content hash" and "Calculating the reference hash";
// room versions 4+ event ID format).

import { createHash } from 'node:crypto';
import { decodeBase64, encodeBase64, encodeUrlSafeBase64 } from './base64.ts';
import { canonicalJson } from './canonical-json.ts';
import type { RoomVersion } from './pdu.ts';
import { redactEventObject } from './redaction.ts';
import { wireForm } from './wire-form.ts';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The spec's content-hash algorithm applied to `obj` exactly as given:
 * sha256 of the canonical JSON without `unsigned`, `signatures` and `hashes`.
 * Those three are excluded because they change after hashing (signatures
 * cover the hash, `unsigned` is rewritten in transit).
 */
export function contentHashOf(obj: object): Buffer {
  const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = obj as Record<string, unknown>;
  return sha256(canonicalJson(rest));
}

/**
 * Content hash of an event (v10/v11 format), unpadded base64 — the value of
 * `hashes.sha256`. A convenience `event_id` on the object is ignored (see
 * wire-form.ts): it is derived from this very hash.
 */
export function computeContentHash(event: object): string {
  return encodeBase64(contentHashOf(wireForm(event)));
}

/** Whether `hashes.sha256` matches the event's content. */
export function checkContentHash(event: object): boolean {
  const hashes = (event as { hashes?: unknown }).hashes;
  const claimed = typeof hashes === 'object' && hashes !== null ? (hashes as Record<string, unknown>)['sha256'] : undefined;
  if (typeof claimed !== 'string') return false;
  try {
    return decodeBase64(claimed).equals(contentHashOf(wireForm(event)));
  } catch {
    return false;
  }
}

/**
 * Reference hash: covers only what survives redaction (plus the content hash,
 * which is protected), so the event ID stays stable when the event is
 * redacted later.
 */
export function computeReferenceHash(event: object, roomVersion: RoomVersion): Buffer {
  const redacted = redactEventObject(wireForm(event), roomVersion);
  const { signatures: _s, unsigned: _u, age_ts: _a, ...rest } = redacted;
  return sha256(canonicalJson(rest));
}

/** Event ID for room versions 4+: '$' + URL-safe unpadded base64 of the reference hash. */
export function computeEventId(event: object, roomVersion: RoomVersion): string {
  return `$${encodeUrlSafeBase64(computeReferenceHash(event, roomVersion))}`;
}
