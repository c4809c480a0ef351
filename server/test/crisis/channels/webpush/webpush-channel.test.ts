import webpush from 'web-push';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PermanentChannelError, TransientChannelError } from '../../../../src/crisis/channels/channel.ts';
import { addPushSubscription, listPushSubscriptions, parsePushSubscription } from '../../../../src/crisis/channels/webpush/subscriptions.ts';
import { WebPushChannel, type WebPushChannelOptions } from '../../../../src/crisis/channels/webpush/webpush-channel.ts';
import { topicFor } from '../../../../src/crisis/channels/webpush/push-payload.ts';
import { makeDelivery } from '../../../support/channel-fixtures.ts';
import { addTestUser, openTestDb, type TestDb } from '../../../support/crisis-db.ts';
import { WebPushReceiver, type FakeBrowser } from '../../../support/webpush-receiver.ts';

const keys = webpush.generateVAPIDKeys();
const subject = 'mailto:dsi@example.org';

let t: TestDb;
let receiver: WebPushReceiver;
let userCounter = 0;
const channels: WebPushChannel[] = [];

beforeAll(async () => {
  t = await openTestDb();
  receiver = await WebPushReceiver.start();
});
afterAll(async () => {
  await receiver.close();
  await t.close();
});
afterEach(async () => {
  for (const c of channels.splice(0)) await c.close();
});

function channel(options: Partial<WebPushChannelOptions> = {}): WebPushChannel {
  const c = new WebPushChannel({ db: t.db, keys, subject, allowRanges: ['127.0.0.0/8'], timeoutMs: 5000, ...options });
  channels.push(c);
  return c;
}

/** A user with `count` subscribed fake browsers. */
async function userWithBrowsers(count: number, options: { host?: string } = {}): Promise<{ userId: string; browsers: FakeBrowser[] }> {
  const userId = `@u${++userCounter}:localhost`;
  await addTestUser(t.db, userId);
  const browsers: FakeBrowser[] = [];
  for (let i = 0; i < count; i++) {
    const b = receiver.newBrowser({ applicationServerKey: keys.publicKey, ...options });
    browsers.push(b);
    await addPushSubscription(t.db, userId, parsePushSubscription(b.subscription, { allowHttpHosts: ['127.0.0.1', 'localhost'] }));
  }
  return { userId, browsers };
}

describe('WebPushChannel', () => {
  it('delivers an encrypted payload that the browser decrypts to the compact alert JSON', async () => {
    const { userId, browsers } = await userWithBrowsers(1);
    const delivery = makeDelivery({ recipient: { userId } });
    const result = await channel().send(delivery);
    const [push] = receiver.receivedBy(browsers[0]!);

    expect(result.state).toBe('sent');
    expect(result.externalId).toMatch(/\/message\/\d+$/);
    expect(JSON.parse(push!.payload)).toEqual({
      t: 'alert',
      id: delivery.alert.alertId,
      sev: 'critical',
      title: delivery.alert.title,
      body: delivery.alert.body,
      ack_url: delivery.ackUrl,
      token: delivery.ackToken,
      drill: false,
    });
    expect(push!.bodyBytes).toBeLessThan(500);
    expect(receiver.refusedFor(browsers)).toEqual([]);
  });

  it('marks critical alerts urgent with a short TTL, others normal, and sets the topic', async () => {
    const { userId, browsers } = await userWithBrowsers(1);
    const critical = makeDelivery({ recipient: { userId } });
    const info = makeDelivery({ recipient: { userId }, alert: { severity: 'info' } });
    await channel().send(critical);
    await channel().send(info);
    const [a, b] = receiver.receivedBy(browsers[0]!);
    expect(a).toMatchObject({ urgency: 'high', ttl: '3600', topic: topicFor(critical.alert.alertId) });
    expect(b).toMatchObject({ urgency: 'normal', ttl: '86400', topic: topicFor(info.alert.alertId) });
    expect(a!.topic!.length).toBeLessThanOrEqual(32);
  });

  it('signs a VAPID JWT the push service accepts, and reuses it for the same origin', async () => {
    const { userId, browsers } = await userWithBrowsers(2);
    const c = channel();
    for (let i = 0; i < 5; i++) await c.send(makeDelivery({ recipient: { userId } }));
    const pushes = [...receiver.receivedBy(browsers[0]!), ...receiver.receivedBy(browsers[1]!)];
    expect(pushes).toHaveLength(10);
    const now = Date.now() / 1000;
    for (const p of pushes) {
      expect(p.vapidKey).toBe(keys.publicKey);
      expect(p.jwt.header).toEqual({ typ: 'JWT', alg: 'ES256' });
      expect(p.jwt.claims.aud).toBe(receiver.origin);
      expect(p.jwt.claims.sub).toBe(subject);
      expect(p.jwt.claims.exp!).toBeGreaterThan(now + 11 * 3600);
      expect(p.jwt.claims.exp!).toBeLessThanOrEqual(now + 12 * 3600 + 5);
    }
    expect(new Set(pushes.map((p) => p.jwt.raw)).size).toBe(1);
    expect(receiver.refusedFor(browsers)).toEqual([]);
  });

  it('keeps the payload under 500 bytes on the wire for a very long alert', async () => {
    const { userId, browsers } = await userWithBrowsers(1);
    await channel().send(makeDelivery({ recipient: { userId }, alert: { title: 'Titre '.repeat(50), body: 'Consigne détaillée. '.repeat(200) } }));
    const [push] = receiver.receivedBy(browsers[0]!);
    expect(push!.bodyBytes).toBeLessThan(500);
    expect(Buffer.byteLength(push!.payload)).toBeLessThan(400);
    expect(JSON.parse(push!.payload).body).toMatch(/…$/);
  });

  it('removes a subscription the push service calls gone, and still succeeds on the others', async () => {
    const { userId, browsers } = await userWithBrowsers(2);
    receiver.unsubscribe(browsers[0]!);
    const result = await channel().send(makeDelivery({ recipient: { userId } }));
    expect(result.state).toBe('sent');
    const left = await listPushSubscriptions(t.db, userId);
    expect(left.map((r) => r.endpoint)).toEqual([browsers[1]!.subscription.endpoint]);
  });

  it('fails permanently when every subscription is gone (410 or 404), and removes them', async () => {
    const { userId, browsers } = await userWithBrowsers(2);
    receiver.unsubscribe(browsers[0]!);
    receiver.answer(browsers[1]!, 404);
    await expect(channel().send(makeDelivery({ recipient: { userId } }))).rejects.toBeInstanceOf(PermanentChannelError);
    expect(await listPushSubscriptions(t.db, userId)).toEqual([]);
    await expect(channel().send(makeDelivery({ recipient: { userId } }))).rejects.toThrow(/no push subscription/);
  });

  it('is transient on 429, with the Retry-After delay, and on 5xx', async () => {
    const { userId, browsers } = await userWithBrowsers(1);
    receiver.answer(browsers[0]!, 429, { retryAfter: '30' });
    const err = await channel().send(makeDelivery({ recipient: { userId } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientChannelError);
    expect((err as TransientChannelError).retryAfterMs).toBe(30_000);

    receiver.answer(browsers[0]!, 503);
    await expect(channel().send(makeDelivery({ recipient: { userId } }))).rejects.toBeInstanceOf(TransientChannelError);
    expect(await listPushSubscriptions(t.db, userId)).toHaveLength(1);
    expect((await channel().send(makeDelivery({ recipient: { userId } }))).state).toBe('sent');
  });

  it('is transient when the push service is unreachable', async () => {
    const userId = `@u${++userCounter}:localhost`;
    await addTestUser(t.db, userId);
    const b = receiver.newBrowser();
    const closedPort = await (async () => {
      const other = await WebPushReceiver.start();
      const origin = other.origin;
      await other.close();
      return origin;
    })();
    const subscription = { ...b.subscription, endpoint: `${closedPort}/push/${b.id}` };
    await addPushSubscription(t.db, userId, parsePushSubscription(subscription, { allowHttpHosts: ['127.0.0.1'] }));
    await expect(channel().send(makeDelivery({ recipient: { userId } }))).rejects.toBeInstanceOf(TransientChannelError);
  });

  it('keeps a subscription made for another VAPID key but does not retry it', async () => {
    const userId = `@u${++userCounter}:localhost`;
    await addTestUser(t.db, userId);
    const b = receiver.newBrowser({ applicationServerKey: webpush.generateVAPIDKeys().publicKey });
    await addPushSubscription(t.db, userId, parsePushSubscription(b.subscription, { allowHttpHosts: ['127.0.0.1'] }));
    await expect(channel().send(makeDelivery({ recipient: { userId } }))).rejects.toBeInstanceOf(PermanentChannelError);
    expect(await listPushSubscriptions(t.db, userId)).toHaveLength(1);
  });

  it('refuses endpoints on private addresses unless outbound_allow_ranges lists them', async () => {
    const { userId, browsers } = await userWithBrowsers(1);
    const err = await channel({ allowRanges: [] }).send(makeDelivery({ recipient: { userId } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentChannelError);
    expect((err as Error).message).toMatch(/not allowed/);
    expect(receiver.receivedBy(browsers[0]!)).toHaveLength(0);

    // A name that resolves to a private address is caught at connect time.
    const named = await userWithBrowsers(1, { host: 'localhost' });
    const err2 = await channel({ allowRanges: [] }).send(makeDelivery({ recipient: { userId: named.userId } })).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(PermanentChannelError);
    expect(receiver.receivedBy(named.browsers[0]!)).toHaveLength(0);
    // Allowed, the same name works.
    expect((await channel().send(makeDelivery({ recipient: { userId: named.userId } }))).state).toBe('sent');
  });

  it('fails permanently for a recipient without subscriptions', async () => {
    const userId = `@u${++userCounter}:localhost`;
    await addTestUser(t.db, userId);
    await expect(channel().send(makeDelivery({ recipient: { userId } }))).rejects.toBeInstanceOf(PermanentChannelError);
  });

  it('fans out to many recipients over a few kept-alive connections (counts only, no timing)', async () => {
    const recipients = await Promise.all(Array.from({ length: 40 }, () => userWithBrowsers(1)));
    const before = receiver.received.length;
    const connectionsBefore = receiver.connections;
    const c = channel({ connectionsPerOrigin: 4 });
    const deliveries = recipients.flatMap(({ userId }) => Array.from({ length: 5 }, () => makeDelivery({ recipient: { userId } })));
    const results = await Promise.all(deliveries.map((d) => c.send(d)));
    expect(results.every((r) => r.state === 'sent')).toBe(true);
    expect(receiver.received.length - before).toBe(200);
    expect(receiver.connections - connectionsBefore).toBeLessThanOrEqual(4);
    expect(receiver.refusedFor(recipients.flatMap((r) => r.browsers))).toEqual([]);
  });

  it('is healthy with usable keys and subject', async () => {
    expect(await channel().health()).toEqual({ ok: true });
  });
});
