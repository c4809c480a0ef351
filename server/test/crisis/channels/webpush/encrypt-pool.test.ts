import { createECDH, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { EncryptPool } from '../../../../src/crisis/channels/webpush/encrypt-pool.ts';
import { decryptAes128gcm } from '../../../support/webpush-receiver.ts';

function browser() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = randomBytes(16);
  return { ecdh, auth, p256dh: ecdh.getPublicKey().toString('base64url'), authB64: auth.toString('base64url') };
}

describe('EncryptPool', () => {
  const pools: EncryptPool[] = [];
  afterAll(async () => {
    for (const p of pools) await p.close();
  });

  it('encrypts on its threads, each message for its own browser, in any number at once', async () => {
    const pool = new EncryptPool(2);
    pools.push(pool);
    const browsers = Array.from({ length: 200 }, browser);
    const bodies = await Promise.all(browsers.map((b, i) => pool.encrypt(b.p256dh, b.authB64, Buffer.from(`message ${i}`))));
    expect(pool.threads).toBe(2);
    bodies.forEach((body, i) => expect(decryptAes128gcm(body, browsers[i]!.ecdh, browsers[i]!.auth).toString()).toBe(`message ${i}`));
  });

  it('rejects a message whose key is not a P-256 point, and goes on with the others', async () => {
    const pool = new EncryptPool(1);
    pools.push(pool);
    const good = browser();
    const results = await Promise.allSettled([
      pool.encrypt(randomBytes(65).toString('base64url'), good.authB64, Buffer.from('bad')),
      pool.encrypt(good.p256dh, good.authB64, Buffer.from('good')),
    ]);
    expect(results[0]!.status).toBe('rejected');
    expect(results[1]!.status).toBe('fulfilled');
    expect(decryptAes128gcm((results[1] as PromiseFulfilledResult<Buffer>).value, good.ecdh, good.auth).toString()).toBe('good');
  });

  it('encrypts on the main thread with no thread, and after close', async () => {
    const inline = new EncryptPool(0);
    const b = browser();
    expect(decryptAes128gcm(await inline.encrypt(b.p256dh, b.authB64, Buffer.from('inline')), b.ecdh, b.auth).toString()).toBe('inline');
    expect(inline.threads).toBe(0);
    const closed = new EncryptPool(1);
    await closed.encrypt(b.p256dh, b.authB64, Buffer.from('warm'));
    await closed.close();
    expect(decryptAes128gcm(await closed.encrypt(b.p256dh, b.authB64, Buffer.from('after')), b.ecdh, b.auth).toString()).toBe('after');
  });
});
