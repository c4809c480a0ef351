import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { generateSigningKey, loadSigningKey, saveSigningKey, type SigningKey } from './signing.ts';

/** The server's ed25519 signing key in DATA_DIR, generated on first start. */
export async function loadOrCreateSigningKey(dataDir: string, serverName: string): Promise<SigningKey> {
  const file = path.join(dataDir, `${serverName.replace(/[^A-Za-z0-9.-]/g, '_')}.signing.key`);
  if (existsSync(file)) return loadSigningKey(file);
  mkdirSync(dataDir, { recursive: true });
  const key = generateSigningKey();
  await saveSigningKey(file, key);
  return key;
}
