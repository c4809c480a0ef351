// Long-polls with the current token (a client asking again right after an answer): the window
// is empty, so the server waits before reading anything, and still answers every change.
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const V3 = '/_matrix/client/v3';

async function quickUser(baseUrl: string): Promise<{ userId: string; api: Api }> {
  const localpart = `lp${process.pid}x${Math.random().toString(36).slice(2, 9)}`;
  const res = await new Api(baseUrl).post(`${V3}/register`, { username: localpart, auth: { type: 'm.login.dummy' } });
  expect(res.status).toBe(200);
  return { userId: res.body.user_id, api: new Api(baseUrl, res.body.access_token) };
}

/** The sync overview queries (one per computed answer) run while `fn` runs. */
async function countingSyncReads<T>(db: Knex, fn: () => Promise<T>): Promise<{ result: T; reads: number }> {
  let reads = 0;
  const onQuery = (q: { sql?: string }) => {
    if (typeof q.sql === 'string' && q.sql.includes('AS account_data_changed')) reads++;
  };
  db.on('query', onQuery);
  try {
    return { result: await fn(), reads };
  } finally {
    db.removeListener('query', onQuery);
  }
}

describe('long-poll with the current token', () => {
  let server: TestServer;
  let alice: Awaited<ReturnType<typeof quickUser>>;
  let bob: Awaited<ReturnType<typeof quickUser>>;
  let roomId: string;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await quickUser(server.url);
    bob = await quickUser(server.url);
    roomId = (await alice.api.post(`${V3}/createRoom`, { preset: 'public_chat' })).body.room_id;
    expect((await bob.api.post(`${V3}/join/${enc(roomId)}`, {})).status).toBe(200);
  });

  afterAll(async () => {
    await closeAllTestServers();
  });

  const current = async (user: { api: Api }) => (await user.api.get(`${V3}/sync?timeout=0`)).body.next_batch as string;

  it('reads once, at the timeout, when nothing happens', async () => {
    const since = await current(bob);
    const { result, reads } = await countingSyncReads(server.services.db, () => bob.api.get(`${V3}/sync?timeout=300&since=${enc(since)}`));
    expect(result.status).toBe(200);
    expect(result.body.next_batch).toBe(since);
    expect(result.body.rooms.join).toEqual({});
    expect(reads).toBe(1);
  });

  it('answers a message sent while it waits, with the message', async () => {
    const since = await current(bob);
    const poll = bob.api.get(`${V3}/sync?timeout=20000&since=${enc(since)}`);
    await new Promise((r) => setTimeout(r, 200));
    const sent = await alice.api.put(`${V3}/rooms/${enc(roomId)}/send/m.room.message/lp1`, { msgtype: 'm.text', body: 'wake up' });
    const res = await poll;
    expect(res.status).toBe(200);
    const ids = res.body.rooms.join[roomId].timeline.events.map((e: { event_id: string }) => e.event_id);
    expect(ids).toContain(sent.body.event_id);
  });

  it('answers an invite to a new room while it waits', async () => {
    const since = await current(bob);
    const poll = bob.api.get(`${V3}/sync?timeout=20000&since=${enc(since)}`);
    await new Promise((r) => setTimeout(r, 200));
    const other = (await alice.api.post(`${V3}/createRoom`, { preset: 'private_chat', invite: [bob.userId] })).body.room_id;
    const res = await poll;
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.rooms.invite)).toContain(other);
  });

  it('does not wait on a token that is behind: the events in the window come at once', async () => {
    const since = await current(bob);
    await alice.api.put(`${V3}/rooms/${enc(roomId)}/send/m.room.message/lp2`, { msgtype: 'm.text', body: 'missed' });
    const res = await bob.api.get(`${V3}/sync?timeout=20000&since=${enc(since)}`);
    expect(res.status).toBe(200);
    expect(res.body.rooms.join[roomId].timeline.events.map((e: { content: { body?: string } }) => e.content.body)).toContain('missed');
  });
});
