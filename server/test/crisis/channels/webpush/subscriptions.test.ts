import { createECDH, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addPushSubscription,
  listPushSubscriptions,
  listPushSubscriptionsOf,
  MAX_SUBSCRIPTIONS_PER_USER,
  parsePushSubscription,
  removePushSubscription,
} from '../../../../src/crisis/channels/webpush/subscriptions.ts';
import { SubscriptionLoader } from '../../../../src/crisis/channels/webpush/subscription-loader.ts';
import { addTestUser, openTestDb, type TestDb } from '../../../support/crisis-db.ts';

function browserSubscription(endpoint = `https://push.example.org/send/${randomBytes(8).toString('hex')}`) {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { endpoint, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') } };
}

describe('parsePushSubscription', () => {
  it('accepts a browser PushSubscription, padded base64 included', () => {
    const s = browserSubscription();
    expect(parsePushSubscription(s)).toEqual({ endpoint: s.endpoint, keys: s.keys });
    const padded = { ...s, keys: { p256dh: `${s.keys.p256dh}=`, auth: `${s.keys.auth}==` } };
    expect(parsePushSubscription(padded).keys).toEqual(s.keys);
  });

  it('allows http only for the listed hosts', () => {
    const s = browserSubscription('http://127.0.0.1:9999/push/1');
    expect(() => parsePushSubscription(s)).toThrow(/https/);
    expect(parsePushSubscription(s, { allowHttpHosts: ['127.0.0.1'] }).endpoint).toBe(s.endpoint);
  });

  it.each([
    ['an ftp endpoint', (s: ReturnType<typeof browserSubscription>) => ({ ...s, endpoint: 'ftp://push.example.org/x' })],
    ['credentials in the endpoint', (s: ReturnType<typeof browserSubscription>) => ({ ...s, endpoint: 'https://u:p@push.example.org/x' })],
    ['a non-URL endpoint', (s: ReturnType<typeof browserSubscription>) => ({ ...s, endpoint: 'not a url' })],
    ['a 64-byte key', (s: ReturnType<typeof browserSubscription>) => ({ ...s, keys: { ...s.keys, p256dh: Buffer.alloc(64, 4).toString('base64url') } })],
    ['a point off the curve', (s: ReturnType<typeof browserSubscription>) => ({ ...s, keys: { ...s.keys, p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]).toString('base64url') } })],
    ['a compressed point', (s: ReturnType<typeof browserSubscription>) => ({ ...s, keys: { ...s.keys, p256dh: Buffer.concat([Buffer.from([2]), randomBytes(64)]).toString('base64url') } })],
    ['a 12-byte auth', (s: ReturnType<typeof browserSubscription>) => ({ ...s, keys: { ...s.keys, auth: randomBytes(12).toString('base64url') } })],
    ['standard base64', (s: ReturnType<typeof browserSubscription>) => ({ ...s, keys: { ...s.keys, auth: '+/+/+/+/+/+/+/+/+/+/+w' } })],
    ['no keys', (s: ReturnType<typeof browserSubscription>) => ({ endpoint: s.endpoint })],
  ])('refuses %s', (_what, mutate) => {
    expect(() => parsePushSubscription(mutate(browserSubscription()))).toThrow();
  });
});

describe('push subscription repository', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
    for (const u of ['@alice:localhost', '@bob:localhost', '@carol:localhost']) await addTestUser(t.db, u);
  });
  afterAll(async () => t.close());

  it('adds, lists and removes by endpoint', async () => {
    const s = parsePushSubscription(browserSubscription());
    await addPushSubscription(t.db, '@alice:localhost', s, { deviceId: 'PHONE' });
    const rows = await listPushSubscriptions(t.db, '@alice:localhost');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ user_id: '@alice:localhost', device_id: 'PHONE', endpoint: s.endpoint, p256dh: s.keys.p256dh, auth: s.keys.auth });
    expect(await removePushSubscription(t.db, s.endpoint)).toBe(true);
    expect(await removePushSubscription(t.db, s.endpoint)).toBe(false);
    expect(await listPushSubscriptions(t.db, '@alice:localhost')).toHaveLength(0);
  });

  it('replaces a subscription with the same endpoint, keys and owner included', async () => {
    const first = parsePushSubscription(browserSubscription());
    await addPushSubscription(t.db, '@alice:localhost', first);
    const renewed = parsePushSubscription(browserSubscription(first.endpoint));
    await addPushSubscription(t.db, '@bob:localhost', renewed);
    expect(await listPushSubscriptions(t.db, '@alice:localhost')).toHaveLength(0);
    const [row] = await listPushSubscriptions(t.db, '@bob:localhost');
    expect(row).toMatchObject({ endpoint: first.endpoint, p256dh: renewed.keys.p256dh });
    await removePushSubscription(t.db, first.endpoint);
  });

  it(`keeps at most ${MAX_SUBSCRIPTIONS_PER_USER} per user, dropping the oldest`, async () => {
    const endpoints: string[] = [];
    for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_USER + 3; i++) {
      const s = parsePushSubscription(browserSubscription());
      endpoints.push(s.endpoint);
      await addPushSubscription(t.db, '@carol:localhost', s, { now: 1_000_000 + i });
    }
    const kept = (await listPushSubscriptions(t.db, '@carol:localhost')).map((r) => r.endpoint);
    expect(kept).toHaveLength(MAX_SUBSCRIPTIONS_PER_USER);
    expect(new Set(kept)).toEqual(new Set(endpoints.slice(3)));
  });

  it('loads the subscriptions of many users in one go, batching concurrent requests', async () => {
    const s = parsePushSubscription(browserSubscription());
    await addPushSubscription(t.db, '@alice:localhost', s);
    const loader = new SubscriptionLoader(t.db);
    const [alice, bob, nobody, again] = await Promise.all([
      loader.load('@alice:localhost'),
      loader.load('@bob:localhost'),
      loader.load('@nobody:localhost'),
      loader.load('@alice:localhost'),
    ]);
    expect(alice.map((r) => r.endpoint)).toEqual([s.endpoint]);
    expect(again).toEqual(alice);
    expect(bob).toHaveLength(0);
    expect(nobody).toEqual([]);
    expect((await listPushSubscriptionsOf(t.db, ['@alice:localhost', '@carol:localhost'])).length).toBe(1 + MAX_SUBSCRIPTIONS_PER_USER);
  });
});
