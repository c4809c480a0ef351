import { createECDH, randomBytes } from 'node:crypto';
import webpush from 'web-push';
import { describe, expect, it } from 'vitest';
import { decryptAes128gcm, verifyVapid } from '../../../support/webpush-receiver.ts';

// The receiver's own checks must fail on bad input, or the channel tests would prove nothing.

describe('the test push service', () => {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = randomBytes(16);
  const p256dh = ecdh.getPublicKey().toString('base64url');

  it('decrypts what web-push encrypts, and refuses a tampered or misaddressed body', () => {
    const { cipherText } = webpush.encrypt(p256dh, auth.toString('base64url'), 'bonjour', 'aes128gcm');
    expect(decryptAes128gcm(cipherText, ecdh, auth).toString()).toBe('bonjour');
    const tampered = Buffer.from(cipherText);
    tampered[tampered.length - 20]! ^= 1;
    expect(() => decryptAes128gcm(tampered, ecdh, auth)).toThrow();
    expect(() => decryptAes128gcm(cipherText, ecdh, randomBytes(16))).toThrow();
  });

  it('accepts a valid VAPID header and refuses a forged, expired or misaddressed one', () => {
    const keys = webpush.generateVAPIDKeys();
    const other = webpush.generateVAPIDKeys();
    const origin = 'http://127.0.0.1:1234';
    const good = webpush.getVapidHeaders(origin, 'mailto:a@example.org', keys.publicKey, keys.privateKey, 'aes128gcm').Authorization;
    expect(verifyVapid(good, origin).key).toBe(keys.publicKey);

    const forged = webpush.getVapidHeaders(origin, 'mailto:a@example.org', other.publicKey, other.privateKey, 'aes128gcm').Authorization.replace(other.publicKey, keys.publicKey);
    expect(() => verifyVapid(forged, origin)).toThrow(/signature/);
    expect(() => verifyVapid(good, 'http://127.0.0.1:9999')).toThrow(/aud/);
    const expired = webpush.getVapidHeaders(origin, 'mailto:a@example.org', keys.publicKey, keys.privateKey, 'aes128gcm', Math.floor(Date.now() / 1000) - 10).Authorization;
    expect(() => verifyVapid(expired, origin)).toThrow(/exp/);
    expect(() => verifyVapid('Bearer abc', origin)).toThrow(/vapid/);
  });
});
