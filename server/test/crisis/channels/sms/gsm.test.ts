import smpp from 'smpp';
import { describe, expect, it } from 'vitest';
import {
  countSegments,
  decodeGsm7,
  decodeUcs2,
  detectEncoding,
  encodeGsm7,
  encodeUcs2,
  isGsm7,
  splitSegments,
  unitLength,
} from '../../../../src/crisis/channels/sms/gsm.ts';

describe('GSM 03.38 detection', () => {
  it('accepts the French accents of the basic table', () => {
    expect(isGsm7('Évacuez: é è à ù ì ò ç É Ç Ä Ö Ñ Ü ä ö ñ ü ß Ø å @ £ $ ¥ § ¿ ¡')).toBe(true);
  });

  it('accepts the extension table and counts two septets for each of its characters', () => {
    const ext = '€[]{}^~|\\';
    expect(isGsm7(ext)).toBe(true);
    expect(unitLength(ext, 'gsm7')).toBe(18);
    expect(unitLength('abc€', 'gsm7')).toBe(5);
  });

  it.each([
    ['œ', 'Cœur'],
    ['ê', 'fenêtre'],
    ['â', 'bâtiment'],
    ['emoji', 'Alerte 🚨'],
    ['typographic apostrophe', 'l’alerte'],
    ['cyrillic', 'Тревога'],
  ])('sends %s as UCS-2', (_what, text) => {
    expect(isGsm7(text)).toBe(false);
    expect(detectEncoding(text)).toBe('ucs2');
  });
});

describe('segment counting', () => {
  it('fits 160 GSM-7 septets in one segment, then 153 per part', () => {
    expect(countSegments('a'.repeat(160))).toEqual({ encoding: 'gsm7', units: 160, segments: 1 });
    expect(countSegments('a'.repeat(161))).toEqual({ encoding: 'gsm7', units: 161, segments: 2 });
    expect(countSegments('a'.repeat(306)).segments).toBe(2);
    expect(countSegments('a'.repeat(307)).segments).toBe(3);
  });

  it('counts extension characters double against the limit', () => {
    expect(countSegments('€'.repeat(80)).segments).toBe(1);
    expect(countSegments('€'.repeat(81)).segments).toBe(2);
  });

  it('fits 70 UCS-2 units in one segment, then 67 per part', () => {
    expect(countSegments('œ'.repeat(70))).toEqual({ encoding: 'ucs2', units: 70, segments: 1 });
    expect(countSegments('œ'.repeat(71)).segments).toBe(2);
    expect(countSegments('œ'.repeat(134)).segments).toBe(2);
    expect(countSegments('œ'.repeat(135)).segments).toBe(3);
  });

  it('counts an emoji as two UCS-2 units', () => {
    expect(countSegments('🚨'.repeat(35)).segments).toBe(1);
    expect(countSegments('🚨'.repeat(36)).segments).toBe(2);
  });
});

describe('splitting into parts', () => {
  it('never splits an escape pair across two GSM-7 parts', () => {
    const text = 'a'.repeat(152) + '€' + 'b'.repeat(10);
    const { encoding, parts } = splitSegments(text);
    expect(encoding).toBe('gsm7');
    expect(parts[0]).toBe('a'.repeat(152));
    expect(parts[1]!.startsWith('€')).toBe(true);
    expect(parts.join('')).toBe(text);
    for (const p of parts) expect(unitLength(p, 'gsm7')).toBeLessThanOrEqual(153);
  });

  it('never splits a surrogate pair across two UCS-2 parts', () => {
    const text = 'œ'.repeat(66) + '🚨' + 'œ'.repeat(10);
    const { encoding, parts } = splitSegments(text);
    expect(encoding).toBe('ucs2');
    expect(parts[0]).toBe('œ'.repeat(66));
    expect(parts[1]!.startsWith('🚨')).toBe(true);
    expect(parts.join('')).toBe(text);
  });

  it('keeps a text of one segment whole', () => {
    expect(splitSegments('Bonjour')).toEqual({ encoding: 'gsm7', parts: ['Bonjour'] });
  });
});

describe('encoding', () => {
  it('round-trips GSM-7 through its own decoder and the smpp package decoder', () => {
    const text = 'Rendez-vous à 14h, accès par la rue de l\'École {B} [niveau 2] ~ 5€ | @';
    const septets = encodeGsm7(text);
    expect(decodeGsm7(septets)).toBe(text);
    expect(smpp.encodings.ASCII!.decode(septets)).toBe(text);
    expect(septets.every((b) => b < 0x80)).toBe(true);
  });

  it('sends ç as the basic table\'s 0x09, which the standard labels Ç', () => {
    expect([...encodeGsm7('ç')]).toEqual([0x09]);
    expect(decodeGsm7(encodeGsm7('ç'))).toBe('Ç');
  });

  it('encodes UCS-2 big-endian with surrogate pairs kept', () => {
    const text = 'Cœur 🚨';
    const octets = encodeUcs2(text);
    expect(octets.subarray(0, 2)).toEqual(Buffer.from([0x00, 0x43]));
    expect(octets.length).toBe(text.length * 2);
    expect(decodeUcs2(octets)).toBe(text);
    expect(smpp.encodings.UCS2!.decode(octets)).toBe(text);
  });
});
