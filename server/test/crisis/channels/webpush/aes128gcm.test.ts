import { createECDH, randomBytes } from 'node:crypto';
import webpush from 'web-push';
import { describe, expect, it } from 'vitest';
import { AES128GCM_OVERHEAD, encryptAes128gcm } from '../../../../src/crisis/channels/webpush/aes128gcm.ts';
import { decryptAes128gcm } from '../../../support/webpush-receiver.ts';

const b64 = (s: string) => Buffer.from(s, 'base64url');

// RFC 8291 Appendix A: the same keys and salt must give the same bytes.
const RFC8291 = {
  plaintext: 'When I grow up, I want to be a watermelon',
  asPrivate: 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw',
  uaPublic: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
  uaPrivate: 'q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94',
  authSecret: 'BTBZMqHH6r4Tts7J_aSIgg',
  salt: 'DGv6ra1nlYgDCS1FRnbzlw',
  body:
    'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
};

describe('encryptAes128gcm (RFC 8291)', () => {
  it('reproduces the RFC 8291 Appendix A message', () => {
    const body = encryptAes128gcm(b64(RFC8291.uaPublic), b64(RFC8291.authSecret), Buffer.from(RFC8291.plaintext), {
      salt: b64(RFC8291.salt),
      senderPrivateKey: b64(RFC8291.asPrivate),
    });
    expect(body.toString('base64url')).toBe(RFC8291.body);
  });

  it('is read by a browser (the test receiver) and by the same rules as web-push, with a fresh salt and key each time', () => {
    const ua = createECDH('prime256v1');
    ua.generateKeys();
    const auth = randomBytes(16);
    const payload = Buffer.from(JSON.stringify({ t: 'alert', title: 'Évacuation', body: 'Bâtiment C' }));
    const a = encryptAes128gcm(ua.getPublicKey(), auth, payload);
    const b = encryptAes128gcm(ua.getPublicKey(), auth, payload);
    expect(decryptAes128gcm(a, ua, auth).equals(payload)).toBe(true);
    expect(decryptAes128gcm(b, ua, auth).equals(payload)).toBe(true);
    expect(a.subarray(0, 16).equals(b.subarray(0, 16))).toBe(false);
    expect(a.subarray(21, 86).equals(b.subarray(21, 86))).toBe(false);
    // Same layout and size as web-push's encrypt.
    const theirs = webpush.encrypt(ua.getPublicKey().toString('base64url'), auth.toString('base64url'), payload.toString(), 'aes128gcm').cipherText;
    expect(a.length).toBe(theirs.length);
    expect(a.length).toBe(payload.length + AES128GCM_OVERHEAD);
    expect(a.subarray(16, 21).equals(theirs.subarray(16, 21))).toBe(true);
  });

  it('refuses keys that are not a P-256 point or a 16-byte secret', () => {
    const payload = Buffer.from('x');
    expect(() => encryptAes128gcm(randomBytes(65), randomBytes(16), payload)).toThrow();
    expect(() => encryptAes128gcm(b64(RFC8291.uaPublic).subarray(1), randomBytes(16), payload)).toThrow();
    expect(() => encryptAes128gcm(b64(RFC8291.uaPublic), randomBytes(8), payload)).toThrow();
  });
});
