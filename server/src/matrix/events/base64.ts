// Unpadded Base64 (spec appendix "Unpadded Base64"), in the standard alphabet
// (hashes, signatures, keys) and the URL-safe one (event IDs in v4+ rooms).
//
// Node's Buffer decoder silently skips characters it does not understand,
// which would let two different strings decode to the same bytes; the
// decoders here validate first and throw instead.

export class Base64Error extends Error {
  override name = 'Base64Error';
}

export function encodeBase64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64').replace(/=+$/, '');
}

export function encodeUrlSafeBase64(data: Uint8Array): string {
  // Node's 'base64url' output is already unpadded.
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64url');
}

// The spec asks decoders to accept input with or without '=' padding.
// Trailing bits of the final character are not required to be zero: the
// spec's own signing-key test vector seed has non-zero trailing bits.
const STANDARD = /^[A-Za-z0-9+/]*$/;
const URL_SAFE = /^[A-Za-z0-9\-_]*$/;

export function decodeBase64(s: string): Buffer {
  return Buffer.from(validate(s, STANDARD, 'base64'), 'base64');
}

export function decodeUrlSafeBase64(s: string): Buffer {
  return Buffer.from(validate(s, URL_SAFE, 'URL-safe base64'), 'base64url');
}

function validate(s: string, alphabet: RegExp, what: string): string {
  let body = s;
  const padStart = s.indexOf('=');
  if (padStart !== -1) {
    body = s.slice(0, padStart);
    const padding = s.slice(padStart);
    // Padding, when present, must be exactly what RFC 4648 would have written.
    if (!/^=+$/.test(padding) || s.length % 4 !== 0 || padding.length !== (4 - (body.length % 4)) % 4) {
      throw new Base64Error(`invalid ${what} padding`);
    }
  }
  if (!alphabet.test(body)) throw new Base64Error(`invalid ${what} character`);
  // One leftover character carries only 6 bits: not a whole byte, so no
  // encoder can have produced it.
  if (body.length % 4 === 1) throw new Base64Error(`invalid ${what} length`);
  return body;
}
