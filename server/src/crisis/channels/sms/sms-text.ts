import type { Delivery } from '../channel.ts';
import { alertTag, languageOf, wordsFor } from '../alert-text.ts';
import { countSegments, detectEncoding, MAX_PARTS } from './gsm.ts';

// The text of an alert SMS: the tag and title, the body, the ack link and the reply code,
// fitted into as few segments as possible. Each segment costs money and, on a congested
// network, time; one segment also arrives whole on every handset.

/**
 * Typographic punctuation that word processors and phones insert, and that would switch the
 * whole SMS to UCS-2 for nothing: replaced by its plain equivalent. Letters (œ, ê) are kept.
 */
const plainPunctuation: [RegExp, string][] = [
  [/[\u2018\u2019\u201a\u2032]/g, "'"],
  [/[\u201c\u201d\u201e\u00ab\u00bb\u2033]/g, '"'],
  [/[\u2010-\u2015\u2212]/g, '-'],
  [/\u2026/g, '...'],
  [/[\u00a0\u2007\u2009\u202f\t]/g, ' '],
];

export function plainSmsText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of plainPunctuation) out = out.replace(pattern, replacement);
  return out
    .replace(/\r\n?/g, '\n')
    .replace(/ {2,}/g, ' ')
    .replace(/\n{2,}/g, '\n')
    .trim();
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function splitGraphemes(text: string): string[] {
  return Array.from(graphemes.segment(text), (s) => s.segment);
}

export interface SmsTextOptions {
  /** Segments allowed before parts are cut or dropped (1 by default). */
  maxSegments?: number;
  /** A body is never cut shorter than this many characters to keep the link and code. */
  minBodyChars?: number;
}

function fits(text: string, maxSegments: number): boolean {
  return countSegments(text).segments <= maxSegments;
}

/**
 * The longest prefix of the body (with an ellipsis when cut) that keeps the whole within
 * maxSegments, or undefined when even `minChars` of it do not fit.
 */
function fitBody(build: (body: string) => string, body: string, maxSegments: number, minChars: number): string | undefined {
  if (fits(build(body), maxSegments)) return build(body);
  const chars = splitGraphemes(body);
  // A body this short is not cut: dropping something else is better than "Evac...".
  if (chars.length <= minChars) return undefined;
  const withPrefix = (n: number) => {
    const prefix = chars.slice(0, n).join('').trimEnd();
    // "..." keeps a GSM-7 text in GSM-7; "…" is one unit where the text is UCS-2 anyway.
    const ellipsis = detectEncoding(build(prefix)) === 'gsm7' ? '...' : '…';
    return build(prefix + ellipsis);
  };
  // Fitting shrinks monotonically with the prefix length: binary search for the longest.
  let low = minChars;
  if (!fits(withPrefix(low), maxSegments)) return undefined;
  let high = chars.length - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(withPrefix(mid), maxSegments)) low = mid;
    else high = mid - 1;
  }
  return withPrefix(low);
}

export function composeSms(delivery: Delivery, options: SmsTextOptions = {}): string {
  const maxSegments = Math.min(Math.max(options.maxSegments ?? 1, 1), MAX_PARTS);
  const minBody = options.minBodyChars ?? 30;
  const language = languageOf(delivery.recipient);
  const head = plainSmsText(`${alertTag(delivery.alert, language)} ${delivery.alert.title}`).replace(/\n/g, ' ');
  const body = plainSmsText(delivery.alert.body);
  const link = delivery.ackUrl;
  const reply = wordsFor(language).smsReply(delivery.replyCode);
  const join = (...lines: string[]) => lines.filter((l) => l !== '').join('\n');

  // Within the budget, the body is cut before anything is dropped; then the reply code goes
  // (a bare "OK" still acknowledges), then the link.
  for (const tail of [join(link, reply), link, reply, '']) {
    const text = fitBody((b) => join(head, b, tail), body, maxSegments, minBody);
    if (text !== undefined) return text;
  }
  // A title too long even alone: cut it, and keep what fits.
  return fitBody((t) => t, head, maxSegments, 0) ?? head;
}
