import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc, registerUser, type TestUser } from '../support/client.ts';
import { closeAllTestServers, startTestServer, testDatabaseKind, type TestServer } from '../support/server.ts';

// Two `tocsin serve` processes on one PostgreSQL: a message sent through one must wake a
// /sync long-poll held by the other (LISTEN/NOTIFY), not wait for its timeout.
describe.skipIf(testDatabaseKind() !== 'postgres')('two servers on one PostgreSQL', () => {
  let first: TestServer;
  let second: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let roomId: string;

  beforeAll(async () => {
    first = await startTestServer();
    second = await startTestServer({}, { shareDatabaseOf: first });
    alice = await registerUser(first.url);
    bob = await registerUser(second.url);
    roomId = (await alice.api.post('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    expect((await bob.api.post(`/_matrix/client/v3/join/${enc(roomId)}`)).status).toBe(200);
  });

  afterAll(closeAllTestServers);

  it('wakes a long-poll on the other node', async () => {
    const initial = await bob.api.get('/_matrix/client/v3/sync?timeout=0');
    expect(initial.status).toBe(200);
    // The long-poll outlasts the test's own timeout: only a wake-up can answer it in time.
    const poll = bob.api.get(`/_matrix/client/v3/sync?timeout=110000&since=${enc(initial.body.next_batch)}`);
    await new Promise((r) => setTimeout(r, 300));
    const sent = await alice.api.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t1`, { msgtype: 'm.text', body: 'across nodes' });
    expect(sent.status).toBe(200);
    const res = await poll;
    expect(res.status).toBe(200);
    const events = res.body.rooms.join[roomId].timeline.events as Array<{ event_id: string }>;
    expect(events.map((e) => e.event_id)).toContain(sent.body.event_id);
  });

  it('shows typing on the other node, and its sync token means the same moment there', async () => {
    const initial = await bob.api.get('/_matrix/client/v3/sync?timeout=0');
    const poll = bob.api.get(`/_matrix/client/v3/sync?timeout=110000&since=${enc(initial.body.next_batch)}`);
    await new Promise((r) => setTimeout(r, 300));
    const typed = await alice.api.put(`/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, { typing: true, timeout: 30000 });
    expect(typed.status).toBe(200);
    const res = await poll;
    const typing = res.body.rooms.join[roomId].ephemeral.events.find((e: { type: string }) => e.type === 'm.typing');
    expect(typing.content.user_ids).toEqual([alice.userId]);

    // A token from the second node, used on the first: the stop is seen, nothing is replayed.
    const stopped = alice.api.put(`/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, { typing: false });
    expect((await stopped).status).toBe(200);
    const onFirst = await alice.api.get(`/_matrix/client/v3/sync?timeout=0&since=${enc(res.body.next_batch)}`);
    const after = onFirst.body.rooms?.join?.[roomId]?.ephemeral?.events?.find((e: { type: string }) => e.type === 'm.typing');
    expect(after?.content.user_ids).toEqual([]);
    const onSecond = await bob.api.get(`/_matrix/client/v3/sync?timeout=30000&since=${enc(res.body.next_batch)}`);
    const seen = onSecond.body.rooms?.join?.[roomId]?.ephemeral?.events?.find((e: { type: string }) => e.type === 'm.typing');
    expect(seen?.content.user_ids).toEqual([]);
  });
});
