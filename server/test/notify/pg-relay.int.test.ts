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

  it('delivers every message of the other node once, and shows a redaction made there, though each node holds its own events in memory', async () => {
    const start = (await bob.api.get('/_matrix/client/v3/sync?timeout=0')).body.next_batch as string;
    const sent: string[] = [];
    // Sends on both nodes; Bob (second node) long-polls until he has seen them all.
    for (let i = 0; i < 6; i++) {
      const via = i % 2 === 0 ? alice : bob;
      const res = await via.api.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/two-${i}`, { msgtype: 'm.text', body: `m${i}` });
      expect(res.status).toBe(200);
      sent.push(res.body.event_id);
    }
    const seen: string[] = [];
    let since = start;
    for (let i = 0; i < 20 && seen.length < sent.length; i++) {
      const res = await bob.api.get(`/_matrix/client/v3/sync?timeout=5000&since=${enc(since)}`);
      expect(res.status).toBe(200);
      for (const e of res.body.rooms.join[roomId]?.timeline.events ?? []) if (e.type === 'm.room.message') seen.push(e.event_id);
      since = res.body.next_batch;
    }
    expect(seen).toEqual(sent);

    // The first node redacts an event the second node holds: a sync over it on the second node
    // shows it emptied, with the redaction.
    const redaction = await alice.api.put(`/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(sent[0]!)}/two-r`, {});
    expect(redaction.status).toBe(200);
    // Once the second node has heard of the redaction (its long-poll carries it)...
    let heard = false;
    for (let i = 0; i < 20 && !heard; i++) {
      const res = await bob.api.get(`/_matrix/client/v3/sync?timeout=5000&since=${enc(since)}`);
      heard = (res.body.rooms.join[roomId]?.timeline.events ?? []).some((e: { event_id: string }) => e.event_id === redaction.body.event_id);
      since = res.body.next_batch;
    }
    expect(heard).toBe(true);
    const again = await bob.api.get(`/_matrix/client/v3/sync?timeout=0&since=${enc(start)}`);
    const events = again.body.rooms.join[roomId].timeline.events as Array<{ event_id: string; content: Record<string, unknown>; unsigned: Record<string, unknown> }>;
    const redacted = events.find((e) => e.event_id === sent[0]);
    expect(redacted?.content).toEqual({});
    expect(redacted?.unsigned.redacted_because).toBeDefined();
  });
});
