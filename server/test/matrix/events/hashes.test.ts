import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeUrlSafeBase64, encodeBase64 } from '../../../src/matrix/events/base64.ts';
import { canonicalJson } from '../../../src/matrix/events/canonical-json.ts';
import {
  checkContentHash,
  computeContentHash,
  computeEventId,
  computeReferenceHash,
  contentHashOf,
} from '../../../src/matrix/events/hashes.ts';
import { signEvent } from '../../../src/matrix/events/signing.ts';
import { MINIMAL_EVENT_HASH, REDACTABLE_EVENT_HASH, minimalEvent, redactableEvent, specSigningKey } from './spec-vectors.ts';

describe('content hash', () => {
  it('matches the spec vectors', () => {
    expect(computeContentHash(minimalEvent())).toBe(MINIMAL_EVENT_HASH);
    expect(encodeBase64(contentHashOf(redactableEvent()))).toBe(REDACTABLE_EVENT_HASH);
  });

  it('excludes unsigned, signatures and hashes', () => {
    const ev = { ...minimalEvent(), unsigned: { x: 1 }, signatures: { a: { b: 'c' } }, hashes: { sha256: 'zzz' } };
    expect(computeContentHash(ev)).toBe(MINIMAL_EVENT_HASH);
  });

  it('ignores a convenience event_id (it is derived from the hash)', () => {
    expect(computeContentHash({ ...minimalEvent(), event_id: '$abc' })).toBe(MINIMAL_EVENT_HASH);
  });

  it('covers content and every other key', () => {
    expect(computeContentHash({ ...minimalEvent(), content: { a: 1 } })).not.toBe(MINIMAL_EVENT_HASH);
    expect(computeContentHash({ ...minimalEvent(), depth: 4 })).not.toBe(MINIMAL_EVENT_HASH);
  });

  it('is unpadded standard base64 of a sha256', () => {
    const hash = computeContentHash({ type: 'x', content: { body: 'ü' } });
    const expected = createHash('sha256').update('{"content":{"body":"ü"},"type":"x"}', 'utf8').digest('base64');
    expect(hash).toBe(expected.replace(/=+$/, ''));
    expect(hash).toHaveLength(43);
  });

  it('is checked by checkContentHash', () => {
    const signed = signEvent(minimalEvent(), 'domain', specSigningKey(), '10');
    expect(checkContentHash(signed)).toBe(true);
    expect(checkContentHash({ ...signed, content: { evil: true } })).toBe(false);
    expect(checkContentHash({ ...signed, hashes: {} })).toBe(false);
    expect(checkContentHash({ ...signed, hashes: { sha256: '!!' } })).toBe(false);
  });
});

describe('reference hash and event ID', () => {
  const event = () => ({
    room_id: '!r:example.org',
    sender: '@u:example.org',
    type: 'm.room.message',
    content: { body: 'hello', msgtype: 'm.text' },
    origin_server_ts: 1234,
    depth: 5,
    prev_events: ['$a'],
    auth_events: ['$b', '$c'],
    hashes: { sha256: 'abc' },
  });

  it('is sha256 over the canonical redacted event without signatures/unsigned', () => {
    const expected = createHash('sha256')
      .update(
        canonicalJson({
          auth_events: ['$b', '$c'],
          content: {},
          depth: 5,
          hashes: { sha256: 'abc' },
          origin_server_ts: 1234,
          prev_events: ['$a'],
          room_id: '!r:example.org',
          sender: '@u:example.org',
          type: 'm.room.message',
        }),
      )
      .digest();
    expect(computeReferenceHash(event(), '11').equals(expected)).toBe(true);
  });

  it('produces $ + 43 URL-safe characters', () => {
    const id = computeEventId(event(), '10');
    expect(id).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
    expect(decodeUrlSafeBase64(id.slice(1)).equals(computeReferenceHash(event(), '10'))).toBe(true);
  });

  it('is stable under signatures, unsigned, age_ts, event_id and redactable content', () => {
    const id = computeEventId(event(), '11');
    expect(computeEventId({ ...event(), signatures: { x: { 'ed25519:1': 'sig' } } }, '11')).toBe(id);
    expect(computeEventId({ ...event(), unsigned: { age: 5 }, age_ts: 7 }, '11')).toBe(id);
    expect(computeEventId({ ...event(), event_id: id }, '11')).toBe(id);
    expect(computeEventId({ ...event(), content: { body: 'changed' } }, '11')).toBe(id);
  });

  it('changes with the content hash and protected keys', () => {
    const id = computeEventId(event(), '11');
    expect(computeEventId({ ...event(), hashes: { sha256: 'abd' } }, '11')).not.toBe(id);
    expect(computeEventId({ ...event(), prev_events: ['$z'] }, '11')).not.toBe(id);
    expect(computeEventId({ ...event(), type: 'm.room.other' }, '11')).not.toBe(id);
  });

  it('depends on the room version where redaction differs', () => {
    const withOrigin = { ...event(), origin: 'example.org' };
    expect(computeEventId(withOrigin, '10')).not.toBe(computeEventId(withOrigin, '11'));
    // v11 does not protect origin, so it does not affect the ID there.
    expect(computeEventId(withOrigin, '11')).toBe(computeEventId(event(), '11'));
  });
});
