import { createECDH, randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import webpush from 'web-push';
import { z } from 'zod';

// The VAPID key pair (RFC 8292) that identifies this server to push services. Browsers bind
// each subscription to its public key, so it must never change once subscriptions exist: it
// is generated once into DATA_DIR and read back on every start. Several nodes must share it
// (a shared DATA_DIR, or channels.webpush.public_key / private_key_file in the config).

export interface VapidKeys {
  /** Uncompressed P-256 point, base64url: what GET /_tocsin/v1/push/vapid hands to browsers. */
  publicKey: string;
  /** The 32-byte private scalar, base64url. */
  privateKey: string;
}

export const VAPID_FILE = 'vapid.json';

const b64url = /^[A-Za-z0-9_-]+$/;
const keysSchema = z.object({
  publicKey: z.string().regex(b64url).refine((k) => Buffer.from(k, 'base64url').length === 65, 'must be 65 bytes'),
  privateKey: z.string().regex(b64url).refine((k) => Buffer.from(k, 'base64url').length === 32, 'must be 32 bytes'),
});

/** Checks the format and that the public key belongs to the private one; throws otherwise. */
export function validateVapidKeys(keys: unknown): VapidKeys {
  const parsed = keysSchema.parse(keys);
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(parsed.privateKey, 'base64url'));
  if (!ecdh.getPublicKey().equals(Buffer.from(parsed.publicKey, 'base64url'))) {
    throw new Error('the VAPID public key does not match the private key');
  }
  return { publicKey: parsed.publicKey, privateKey: parsed.privateKey };
}

async function readKeys(file: string): Promise<VapidKeys> {
  const info = await stat(file);
  // The private key was readable by others: close that, the key itself has to stay.
  if ((info.mode & 0o077) !== 0) await chmod(file, 0o600);
  try {
    return validateVapidKeys(JSON.parse(await readFile(file, 'utf8')));
  } catch (err) {
    throw new Error(`${file} is not a valid VAPID key file (${(err as Error).message.split('\n')[0]})`);
  }
}

export async function loadOrCreateVapidKeys(dataDir: string): Promise<VapidKeys> {
  const file = path.join(dataDir, VAPID_FILE);
  try {
    return await readKeys(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const keys = webpush.generateVAPIDKeys();
  const content = `${JSON.stringify({ ...keys, created_at: new Date().toISOString() }, null, 2)}\n`;
  // Written whole under a temporary name, then linked into place: a second process starting
  // at the same moment either wins the link or reads the complete file of the first.
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, content, { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, file);
    return keys;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readKeys(file);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}
