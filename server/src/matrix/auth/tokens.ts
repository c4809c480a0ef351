import { createHash, randomBytes } from 'node:crypto';

/** A fresh opaque token; only its hash is stored. */
export function newAccessToken(): string {
  return `tct_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

const DEVICE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

export function newDeviceId(): string {
  const bytes = randomBytes(10);
  let out = '';
  for (const b of bytes) out += DEVICE_ALPHABET[b % DEVICE_ALPHABET.length];
  return out;
}
