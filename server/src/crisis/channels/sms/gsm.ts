// GSM 03.38 (3GPP TS 23.038): which texts fit the 7-bit default alphabet, how many segments
// a text takes, and its encoding for SMPP. A text with a single character outside the
// alphabet (œ, ê, an emoji) must go as UCS-2, which holds less than half as much per segment.

export type SmsEncoding = 'gsm7' | 'ucs2';

/** The basic table, index = septet value; 0x1B is the escape to the extension table. */
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';

/** The extension table: each of these costs two septets (escape + code). */
const EXTENSION: Record<string, number> = {
  '\f': 0x0a, '^': 0x14, '{': 0x28, '}': 0x29, '\\': 0x2f, '[': 0x3c, '~': 0x3d, ']': 0x3e, '|': 0x40, '€': 0x65,
};

const ESCAPE = 0x1b;
const basicCode = new Map<string, number>();
for (let i = 0; i < BASIC.length; i++) if (i !== ESCAPE) basicCode.set(BASIC[i]!, i);
// 0x09 is drawn "Ç" in the standard but handsets show it as the small ç it was meant to be;
// French needs ç far more often, and sending it as UCS-2 would halve the message.
basicCode.set('ç', 0x09);
const extensionByCode = new Map(Object.entries(EXTENSION).map(([c, code]) => [code, c]));

/** Septets per segment: a lone message, or one part of a concatenated one (UDH takes 7). */
export const GSM7_SINGLE = 160;
export const GSM7_PART = 153;
/** UTF-16 code units per segment (140 octets; UDH takes 6). */
export const UCS2_SINGLE = 70;
export const UCS2_PART = 67;
/** A concatenated message has at most 255 parts (one-octet counters in the UDH). */
export const MAX_PARTS = 255;

/** Septets a character needs in GSM-7, or undefined when it is not in the alphabet. */
function septetsOf(char: string): number | undefined {
  if (basicCode.has(char)) return 1;
  if (char in EXTENSION) return 2;
  return undefined;
}

export function isGsm7(text: string): boolean {
  for (const char of text) if (septetsOf(char) === undefined) return false;
  return true;
}

export function detectEncoding(text: string): SmsEncoding {
  return isGsm7(text) ? 'gsm7' : 'ucs2';
}

/** The length in the encoding's units: septets for GSM-7, UTF-16 code units for UCS-2. */
export function unitLength(text: string, encoding: SmsEncoding = detectEncoding(text)): number {
  if (encoding === 'ucs2') return text.length;
  let n = 0;
  for (const char of text) n += septetsOf(char) ?? 1;
  return n;
}

export interface SegmentCount {
  encoding: SmsEncoding;
  units: number;
  segments: number;
}

export function countSegments(text: string): SegmentCount {
  const encoding = detectEncoding(text);
  const units = unitLength(text, encoding);
  const [single, part] = encoding === 'gsm7' ? [GSM7_SINGLE, GSM7_PART] : [UCS2_SINGLE, UCS2_PART];
  const segments = units === 0 ? 1 : units <= single ? 1 : Math.ceil(units / part);
  return { encoding, units, segments };
}

/**
 * Cuts a text into the parts of a concatenated message. An escape pair (GSM-7) or a
 * surrogate pair (UCS-2) is never split across two parts: a phone would show garbage.
 */
export function splitSegments(text: string): { encoding: SmsEncoding; parts: string[] } {
  const { encoding, segments } = countSegments(text);
  if (segments === 1) return { encoding, parts: [text] };
  const limit = encoding === 'gsm7' ? GSM7_PART : UCS2_PART;
  const parts: string[] = [];
  let current = '';
  let used = 0;
  for (const char of text) {
    const cost = encoding === 'gsm7' ? (septetsOf(char) ?? 1) : char.length;
    if (used + cost > limit) {
      parts.push(current);
      current = '';
      used = 0;
    }
    current += char;
    used += cost;
  }
  if (current) parts.push(current);
  return { encoding, parts };
}

/** Unpacked septets, one per octet, as SMPP carries data_coding 0; unknown characters become '?'. */
export function encodeGsm7(text: string): Buffer {
  const out: number[] = [];
  for (const char of text) {
    const code = basicCode.get(char);
    if (code !== undefined) out.push(code);
    else if (char in EXTENSION) out.push(ESCAPE, EXTENSION[char]!);
    else out.push(0x3f);
  }
  return Buffer.from(out);
}

export function decodeGsm7(septets: Uint8Array): string {
  let text = '';
  for (let i = 0; i < septets.length; i++) {
    const code = septets[i]! & 0x7f;
    if (code === ESCAPE && i + 1 < septets.length) {
      i += 1;
      text += extensionByCode.get(septets[i]! & 0x7f) ?? ' ';
    } else {
      text += BASIC[code] ?? ' ';
    }
  }
  return text;
}

/** UCS-2 as SMPP carries it (data_coding 8): UTF-16 big-endian, surrogate pairs as they are. */
export function encodeUcs2(text: string): Buffer {
  const buffer = Buffer.from(text, 'utf16le');
  return buffer.swap16();
}

export function decodeUcs2(octets: Uint8Array): string {
  const copy = Buffer.from(octets.subarray(0, octets.length - (octets.length % 2)));
  return copy.swap16().toString('utf16le');
}
