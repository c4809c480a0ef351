import { describe, expect, it } from 'vitest';
import {
  Base64Error,
  decodeBase64,
  decodeUrlSafeBase64,
  encodeBase64,
  encodeUrlSafeBase64,
} from '../../../src/matrix/events/base64.ts';

const utf8 = (s: string) => Buffer.from(s, 'utf8');

describe('unpadded base64', () => {
  // Spec appendix "Unpadded Base64" examples.
  const vectors: Array<[string, string]> = [
    ['', ''],
    ['f', 'Zg'],
    ['fo', 'Zm8'],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg'],
    ['fooba', 'Zm9vYmE'],
    ['foobar', 'Zm9vYmFy'],
  ];
  it.each(vectors)('encodes %j as %j and back', (plain, encoded) => {
    expect(encodeBase64(utf8(plain))).toBe(encoded);
    expect(decodeBase64(encoded).toString('utf8')).toBe(plain);
  });

  it('accepts padded input too', () => {
    expect(decodeBase64('Zg==').toString()).toBe('f');
    expect(decodeBase64('Zm8=').toString()).toBe('fo');
  });

  it('uses + and / in the standard alphabet', () => {
    const bytes = Uint8Array.from([0xfb, 0xff, 0xbf]);
    expect(encodeBase64(bytes)).toBe('+/+/');
    expect([...decodeBase64('+/+/')]).toEqual([0xfb, 0xff, 0xbf]);
  });

  it('encodes a subarray view correctly', () => {
    const buf = Buffer.from('xxfooxx');
    expect(encodeBase64(buf.subarray(2, 5))).toBe('Zm9v');
  });

  it('decodes the spec test seed (non-zero trailing bits) to 32 bytes', () => {
    expect(decodeBase64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1')).toHaveLength(32);
  });

  it.each(['Zm9v!', 'Zm9-', 'Z', 'Zm9vY', 'Zg=', 'Zg===', 'Zm9v=', 'Z=g=', ' Zg'])('rejects %j', (bad) => {
    expect(() => decodeBase64(bad)).toThrow(Base64Error);
  });
});

describe('URL-safe unpadded base64', () => {
  it('uses - and _ and no padding', () => {
    const bytes = Uint8Array.from([0xfb, 0xff, 0xbf, 0x01]);
    expect(encodeUrlSafeBase64(bytes)).toBe('-_-_AQ');
    expect([...decodeUrlSafeBase64('-_-_AQ')]).toEqual([0xfb, 0xff, 0xbf, 0x01]);
    expect([...decodeUrlSafeBase64('-_-_AQ==')]).toEqual([0xfb, 0xff, 0xbf, 0x01]);
  });

  it('matches the standard encoding otherwise', () => {
    expect(encodeUrlSafeBase64(utf8('foobar'))).toBe('Zm9vYmFy');
    expect(encodeUrlSafeBase64(utf8('fo'))).toBe('Zm8');
  });

  it('rejects the standard-only characters', () => {
    expect(() => decodeUrlSafeBase64('+/+/')).toThrow(Base64Error);
  });
});
