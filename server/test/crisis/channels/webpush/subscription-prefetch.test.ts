import { createECDH, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SubscriptionLoader } from '../../../../src/crisis/channels/webpush/subscription-loader.ts';
import { addPushSubscription, parsePushSubscription } from '../../../../src/crisis/channels/webpush/subscriptions.ts';
import { addTestUser, openTestDb, type TestDb } from '../../../support/crisis-db.ts';

function subscription() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return parsePushSubscription({
    endpoint: `https://push.example.org/send/${randomBytes(8).toString('hex')}`,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
  });
}

// The engine announces a batch (prefetch); the sends it holds back behind its concurrency limit
// then start one by one and must find their rows without a query each.
describe('SubscriptionLoader.prefetch', () => {
  let t: TestDb;
  const users = ['@pf1:localhost', '@pf2:localhost', '@pf3:localhost', '@pf4:localhost'];
  beforeAll(async () => {
    t = await openTestDb();
    for (const u of users) await addTestUser(t.db, u);
    await addPushSubscription(t.db, users[0]!, subscription());
    await addPushSubscription(t.db, users[0]!, subscription());
    await addPushSubscription(t.db, users[1]!, subscription());
    await addPushSubscription(t.db, users[3]!, subscription());
  });
  afterAll(async () => t.close());

  it('loads a whole batch in one query, then answers each load from it', async () => {
    let queries = 0;
    const count = () => queries++;
    t.db.on('query', count);
    try {
      const loader = new SubscriptionLoader(t.db);
      loader.prefetch(users.slice(0, 3));
      // One at a time, each in its own tick, as sends released by a semaphore.
      const first = await loader.load(users[0]!);
      await new Promise((r) => setImmediate(r));
      const second = await loader.load(users[1]!);
      const third = await loader.load(users[2]!);
      expect(queries).toBe(1);
      expect(first.map((s) => s.user_id)).toEqual([users[0], users[0]]);
      expect(second).toHaveLength(1);
      expect(third).toEqual([]);
      // Not announced, or already taken: the per-tick query, as before.
      const fourth = await loader.load(users[3]!);
      const again = await loader.load(users[0]!);
      expect(fourth).toHaveLength(1);
      expect(again).toHaveLength(2);
      expect(queries).toBe(3);
    } finally {
      t.db.off('query', count);
    }
  });
});
