import { describe, expect, it } from 'vitest';
import { buildPushPayload, MAX_PUSH_JSON_BYTES, topicFor } from '../../../../src/crisis/channels/webpush/push-payload.ts';
import { OutboundGuard } from '../../../../src/crisis/channels/outbound-guard.ts';
import { parseRetryAfter } from '../../../../src/crisis/channels/retry-after.ts';
import { makeDelivery } from '../../../support/channel-fixtures.ts';

describe('buildPushPayload', () => {
  it('holds the compact alert fields', () => {
    const d = makeDelivery();
    expect(JSON.parse(buildPushPayload(d))).toEqual({
      t: 'alert',
      id: d.alert.alertId,
      sev: 'critical',
      title: d.alert.title,
      body: d.alert.body,
      ack_url: d.ackUrl,
      token: d.ackToken,
      drill: false,
    });
  });

  it.each([
    ['a long body', 'Évacuez. '.repeat(500), 'Alerte'],
    ['a long body of emoji', '🚨🔥'.repeat(400), 'Alerte'],
    ['a long title and body in CJK', '停电'.repeat(400), '停电'.repeat(200)],
    ['a body of characters JSON escapes', '"\\\u0001'.repeat(300), 'Alerte'],
  ])('stays within budget with %s, cutting with an ellipsis', (_what, body, title) => {
    const json = buildPushPayload(makeDelivery({ alert: { body, title } }));
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_PUSH_JSON_BYTES);
    const parsed = JSON.parse(json) as { body: string; token: string };
    expect(parsed.body.endsWith('…') || parsed.body === '').toBe(true);
    expect(parsed.token).toBeTruthy();
    expect(parsed.body).not.toMatch(/[\ud800-\udbff]$/);
  });
});

describe('topicFor', () => {
  it('is a stable URL-safe base64 string of at most 32 characters', () => {
    const topic = topicFor('al_01HZXYZ');
    expect(topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(topicFor('al_01HZXYZ')).toBe(topic);
    expect(topicFor('al_01HZXYY')).not.toBe(topic);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and caps the wait', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter(new Date(1_000_000 + 30_000).toUTCString(), 1_000_000)).toBe(30_000);
    expect(parseRetryAfter('999999')).toBe(3_600_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('OutboundGuard', () => {
  it('refuses private and special addresses unless allowed', () => {
    const guard = new OutboundGuard();
    for (const a of ['127.0.0.1', '10.1.2.3', '192.168.1.1', '172.20.0.1', '169.254.169.254', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '0.0.0.0']) {
      expect(guard.isAllowed(a), a).toBe(false);
    }
    for (const a of ['8.8.8.8', '2a00:1450:4007:80f::200a', '142.250.74.234']) expect(guard.isAllowed(a), a).toBe(true);
    const allowing = new OutboundGuard(['127.0.0.0/8', '10.9.9.9']);
    expect(allowing.isAllowed('127.0.0.2')).toBe(true);
    expect(allowing.isAllowed('10.9.9.9')).toBe(true);
    expect(allowing.isAllowed('10.9.9.10')).toBe(false);
    expect(() => guard.checkHost('127.0.0.1')).toThrow(/not allowed/);
    expect(() => guard.checkHost('[::1]')).toThrow(/not allowed/);
    expect(() => guard.checkHost('push.example.org')).not.toThrow();
  });

  it('rejects malformed ranges', () => {
    expect(() => new OutboundGuard(['10.0.0.0/33'])).toThrow();
    expect(() => new OutboundGuard(['intranet'])).toThrow();
  });
});
