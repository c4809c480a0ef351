import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import webpush from 'web-push';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateVapidKeys, VAPID_FILE } from '../../../../src/crisis/channels/webpush/vapid-keys.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'tocsin-vapid-'));
  dirs.push(d);
  return d;
}

describe('VAPID keys', () => {
  it('generates a key pair on first start, private to the owner, and reads it back afterwards', async () => {
    const dir = path.join(tempDir(), 'nested', 'data');
    const keys = await loadOrCreateVapidKeys(dir);
    const file = path.join(dir, VAPID_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(keys.publicKey, 'base64url')).toHaveLength(65);
    expect(Buffer.from(keys.privateKey, 'base64url')).toHaveLength(32);
    expect(keys.publicKey).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(await loadOrCreateVapidKeys(dir)).toEqual(keys);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject(keys);
  });

  it('gives every process starting at once the same keys', async () => {
    const dir = tempDir();
    const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateVapidKeys(dir)));
    for (const k of all) expect(k).toEqual(all[0]);
  });

  it('tightens a key file readable by others', async () => {
    const dir = tempDir();
    await loadOrCreateVapidKeys(dir);
    chmodSync(path.join(dir, VAPID_FILE), 0o644);
    await loadOrCreateVapidKeys(dir);
    expect(statSync(path.join(dir, VAPID_FILE)).mode & 0o777).toBe(0o600);
  });

  it('refuses a damaged file rather than replacing the keys browsers subscribed with', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, VAPID_FILE), '{"publicKey": "abc"}', { mode: 0o600 });
    await expect(loadOrCreateVapidKeys(dir)).rejects.toThrow(/not a valid VAPID key file/);
    const a = webpush.generateVAPIDKeys();
    const b = webpush.generateVAPIDKeys();
    writeFileSync(path.join(dir, VAPID_FILE), JSON.stringify({ publicKey: a.publicKey, privateKey: b.privateKey }));
    await expect(loadOrCreateVapidKeys(dir)).rejects.toThrow(/does not match/);
  });
});
