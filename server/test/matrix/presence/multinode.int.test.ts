// Presence across two `tocsin serve` processes on one PostgreSQL: it lives in memory, and is
// relayed over LISTEN/NOTIFY, so a change made through one node is seen by syncs on the other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, testDatabaseKind, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, V3, createRoom, eventually, join, ok, registerSpecUser, sync, type SpecUser } from '../../support/spec-client.ts';

describe.skipIf(testDatabaseKind() !== 'postgres')('presence on two nodes', () => {
  let first: TestServer;
  let second: TestServer;
  const log = new CallLog();
  let alice: SpecUser;
  let bob: SpecUser;

  beforeAll(async () => {
    first = await startTestServer();
    second = await startTestServer({}, { shareDatabaseOf: first });
    alice = await registerSpecUser(first.url, log);
    // Bob is served by the second node only.
    bob = await registerSpecUser(second.url, log);
    const roomId = await createRoom(alice.api, { preset: 'public_chat' });
    await join(bob.api, roomId);
  });

  afterAll(async () => {
    // The node that shares the database goes first: the other one drops it.
    await second.close();
    await closeAllTestServers();
  });

  const presenceIn = (body: { presence: { events: Array<{ sender: string; content: Record<string, unknown> }> } }, userId: string) =>
    body.presence.events.filter((e) => e.sender === userId).map((e) => e.content);

  it('wakes a sync on the other node with the change, once', async () => {
    const token = (await sync(bob.api, { set_presence: 'offline' })).next_batch as string;
    // The long-poll outlasts the test's own limit: only the relayed wake-up ends it in time.
    const poll = sync(bob.api, { since: token, timeout: 110_000, set_presence: 'offline' });
    await new Promise((r) => setTimeout(r, 300));
    ok(await alice.api.put(`${V3}/presence/${enc(alice.userId)}/status`, { presence: 'unavailable', status_msg: 'Au PC crise' }));
    const got = await poll;
    expect(presenceIn(got, alice.userId)).toEqual([expect.objectContaining({ presence: 'unavailable', status_msg: 'Au PC crise', currently_active: false })]);
    // The second node answers GET /presence from what it was told, too.
    expect(ok(await bob.api.get(`${V3}/presence/${enc(alice.userId)}/status`))).toMatchObject({ presence: 'unavailable', status_msg: 'Au PC crise' });
    // Its next sync carries nothing more.
    const again = await sync(bob.api, { since: got.next_batch, timeout: 300, set_presence: 'offline' });
    expect(presenceIn(again, alice.userId)).toEqual([]);
  });

  it('relays a change made by set_presence on the second node to the first', async () => {
    // Alice's client now reaches the second node (another replica behind the balancer).
    const onSecond = registerSpecUserOn(alice, second.url);
    ok(await onSecond.api.put(`${V3}/presence/${enc(alice.userId)}/status`, { presence: 'online', status_msg: 'Disponible' }));
    const seen = await eventually(async () => {
      const s = ok(await bob.api.get(`${V3}/presence/${enc(alice.userId)}/status`));
      return s.status_msg === 'Disponible' ? s : undefined;
    }, 'status on second');
    expect(seen.presence).toBe('online');
    await sync(onSecond.api, { set_presence: 'unavailable' });
    const onFirst = await eventually(async () => {
      const s = ok(await alice.api.get(`${V3}/presence/${enc(alice.userId)}/status`));
      return s.presence === 'unavailable' ? s : undefined;
    }, 'unavailable on first');
    expect(onFirst.status_msg).toBe('Disponible');
    // Bob, on the first node this time, gets the state on an initial sync there.
    const bobOnFirst = registerSpecUserOn(bob, first.url);
    expect(presenceIn(await sync(bobOnFirst.api, { set_presence: 'offline' }), alice.userId)).toEqual([expect.objectContaining({ presence: 'unavailable' })]);
  });
});

/** The same user and access token, talking to another node. */
function registerSpecUserOn(user: SpecUser, url: string): SpecUser {
  return { ...user, api: new SpecApi(url, user.token, user.api.log) };
}
