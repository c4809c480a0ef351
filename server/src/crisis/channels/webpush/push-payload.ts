import { createHash } from 'node:crypto';
import type { Delivery, Severity } from '../channel.ts';

// The JSON a service worker receives: compact, because on a 2G link every byte of a push is
// paid in delay, and push services cap payloads at about 4 KB anyway. The service worker shows
// title and body, and acknowledges with the token (POST ack_url) from the notification action.

export interface PushPayload {
  t: 'alert';
  id: string;
  sev: Severity;
  title: string;
  body: string;
  ack_url: string;
  token: string;
  drill: boolean;
}

/** Bytes of JSON at most; encryption adds 103 (RFC 8188 header, padding delimiter, GCM tag). */
export const MAX_PUSH_JSON_BYTES = 380;
const MAX_TITLE_CHARS = 100;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function cut(text: string, maxGraphemes: number): string {
  // A grapheme is at least one UTF-16 unit: a text this short needs no segmenting (the usual case).
  if (text.length <= maxGraphemes) return text;
  const parts = Array.from(graphemes.segment(text), (s) => s.segment);
  return parts.length <= maxGraphemes ? text : `${parts.slice(0, maxGraphemes).join('').trimEnd()}…`;
}

export function buildPushPayload(delivery: Delivery, maxBytes = MAX_PUSH_JSON_BYTES): string {
  const payload: PushPayload = {
    t: 'alert',
    id: delivery.alert.alertId,
    sev: delivery.alert.severity,
    title: cut(delivery.alert.title, MAX_TITLE_CHARS),
    body: delivery.alert.body,
    ack_url: delivery.ackUrl,
    token: delivery.ackToken,
    drill: delivery.alert.drill,
  };
  // The body gives way first, then the title (a very long one, or one in a 4-byte script).
  const fitted = shrinkToFit(shrinkToFit(payload, 'body', maxBytes), 'title', maxBytes);
  return JSON.stringify(fitted);
}

/** The longest cut of one field that keeps the JSON within budget. */
function shrinkToFit(payload: PushPayload, field: 'body' | 'title', maxBytes: number): PushPayload {
  if (Buffer.byteLength(JSON.stringify(payload)) <= maxBytes) return payload;
  const count = Array.from(graphemes.segment(payload[field])).length;
  const withCut = (n: number) => ({ ...payload, [field]: n === 0 ? '' : cut(payload[field], n) });
  let low = 0;
  let high = count - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (Buffer.byteLength(JSON.stringify(withCut(mid))) <= maxBytes) low = mid;
    else high = mid - 1;
  }
  return withCut(low);
}

/**
 * The Topic header: a push service keeps only the latest pending message per topic, so a
 * second step of the same alert replaces the first on a phone that was offline. At most 32
 * characters of URL-safe base64 (RFC 8030 section 5.4); 22 carry 132 bits of the hash.
 */
export function topicFor(alertId: string): string {
  // A fan-out asks for the same alert's topic thousands of times in a row.
  if (lastTopic?.alertId !== alertId) lastTopic = { alertId, topic: createHash('sha256').update(alertId).digest('base64url').slice(0, 22) };
  return lastTopic.topic;
}

let lastTopic: { alertId: string; topic: string } | undefined;
