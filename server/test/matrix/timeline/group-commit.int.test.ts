// Group commit in the EventWriter: appends waiting at the same time, in several rooms, are
// written in one transaction that takes the stream positions once. Every append must still get
// its own answer: its events exactly once and in order, the same event for a repeated txn id,
// and its own error without losing the others.
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MatrixError } from '../../../src/errors.ts';
import type { Pdu } from '../../../src/matrix/events/pdu.ts';
import type { EventWriter } from '../../../src/matrix/timeline/append.ts';
import { Api, enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, testDatabaseKind, type TestServer } from '../../support/server.ts';

const ROOMS = 8;
const PER_ROOM = 5;

/** Open registration without a password: no argon2 hashing. */
async function quickUser(baseUrl: string): Promise<{ userId: string; api: Api; deviceId: string }> {
  const localpart = `gc${process.pid}x${Math.random().toString(36).slice(2, 9)}`;
  const res = await new Api(baseUrl).post('/_matrix/client/v3/register', { username: localpart, auth: { type: 'm.login.dummy' } });
  expect(res.status).toBe(200);
  return { userId: res.body.user_id, api: new Api(baseUrl, res.body.access_token), deviceId: res.body.device_id };
}

/** Counts the statements sent to the database, and those taking stream positions, while `fn` runs. */
async function countingHeadUpdates<T>(db: Knex, fn: () => Promise<T>): Promise<{ result: T; headUpdates: number; statements: string[] }> {
  let headUpdates = 0;
  const statements: string[] = [];
  const onQuery = (q: { sql?: string }) => {
    statements.push(String(q.sql));
    if (typeof q.sql === 'string' && /UPDATE stream_head/i.test(q.sql)) headUpdates++;
  };
  db.on('query', onQuery);
  try {
    return { result: await fn(), headUpdates, statements };
  } finally {
    db.removeListener('query', onQuery);
  }
}

describe('group commit of room events', () => {
  let server: TestServer;
  let writer: EventWriter;
  let db: Knex;
  let alice: Awaited<ReturnType<typeof quickUser>>;
  let outsider: Awaited<ReturnType<typeof quickUser>>;
  const rooms: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    writer = server.services.writer;
    db = server.services.db;
    alice = await quickUser(server.url);
    outsider = await quickUser(server.url);
    for (let r = 0; r < ROOMS; r++) {
      const res = await alice.api.post('/_matrix/client/v3/createRoom', { preset: 'private_chat', name: `room ${r}` });
      expect(res.status).toBe(200);
      rooms.push(res.body.room_id);
    }
  });

  afterAll(async () => {
    await closeAllTestServers();
  });

  const message = (n: string) => ({ type: 'm.room.message', sender: alice.userId, content: { msgtype: 'm.text', body: n } });

  async function timeline(roomId: string): Promise<Array<{ event_id: string; content: { body?: string } }>> {
    const res = await alice.api.get(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=f&limit=1000&from=s0_0`);
    expect(res.status).toBe(200);
    return res.body.chunk.filter((e: { type: string }) => e.type === 'm.room.message');
  }

  it('writes appends of many rooms in one transaction, each room in order, every event once', async () => {
    const before = await Promise.all(rooms.map(timeline));
    const { result, headUpdates } = await countingHeadUpdates(db, () =>
      Promise.all(rooms.flatMap((roomId, r) => Array.from({ length: PER_ROOM }, (_, i) => writer.append(roomId, [message(`r${r}m${i}`)])))),
    );
    // All appends were waiting together: one batch, one statement taking positions.
    expect(headUpdates).toBe(1);
    const ids = result.map(([e]) => e!.event_id);
    expect(new Set(ids).size).toBe(ROOMS * PER_ROOM);
    for (let r = 0; r < ROOMS; r++) {
      const got = (await timeline(rooms[r]!)).slice(before[r]!.length);
      expect(got.map((e) => e.content.body)).toEqual(Array.from({ length: PER_ROOM }, (_, i) => `r${r}m${i}`));
      expect(got.map((e) => e.event_id)).toEqual(ids.slice(r * PER_ROOM, (r + 1) * PER_ROOM));
      // Each event's parent is the one before it in the room, also within the batch.
      const pdus = result.slice(r * PER_ROOM, (r + 1) * PER_ROOM).map(([e]) => e as Pdu);
      for (let i = 1; i < pdus.length; i++) {
        expect(pdus[i]!.prev_events).toEqual([pdus[i - 1]!.event_id]);
        expect(pdus[i]!.depth).toBe(pdus[i - 1]!.depth + 1);
      }
    }
  });

  it('sends one message in five statements: begin, room locks, one read, one write, commit', async () => {
    const txn = { deviceId: alice.deviceId, txnId: `rt${Date.now()}`, path: `send/${rooms[3]}/m.room.message` };
    const { statements } = await countingHeadUpdates(db, () => writer.append(rooms[3]!, [message('counted')], { txn }));
    expect(statements.length, statements.join('\n')).toBeLessThanOrEqual(5);
  });

  it('answers a txn id repeated within a batch, and in a later batch, with the same event', async () => {
    const txn = { deviceId: alice.deviceId, txnId: `t${Date.now()}`, path: `send/${rooms[0]}/m.room.message` };
    const before = await timeline(rooms[0]!);
    const [a, b, other] = await Promise.all([
      writer.append(rooms[0]!, [message('once')], { txn }),
      writer.append(rooms[0]!, [message('once')], { txn }),
      writer.append(rooms[1]!, [message('beside')], { txn: { ...txn, path: `send/${rooms[1]}/m.room.message` } }),
    ]);
    expect(b[0]!.event_id).toBe(a[0]!.event_id);
    expect(other[0]!.event_id).not.toBe(a[0]!.event_id);
    const [again] = await writer.append(rooms[0]!, [message('once')], { txn });
    expect(again!.event_id).toBe(a[0]!.event_id);
    const after = (await timeline(rooms[0]!)).slice(before.length);
    expect(after.map((e) => e.event_id)).toEqual([a[0]!.event_id]);
    // Through HTTP too: the same PUT twice at once gives one event.
    const put = () => alice.api.put(`/_matrix/client/v3/rooms/${enc(rooms[2]!)}/send/m.room.message/h${txn.txnId}`, { msgtype: 'm.text', body: 'http' });
    const [p1, p2] = await Promise.all([put(), put()]);
    expect(p1.status).toBe(200);
    expect(p2.status).toBe(200);
    expect(p2.body.event_id).toBe(p1.body.event_id);
  });

  it('fails a refused append alone: the others in its batch are written and answered', async () => {
    const before = await Promise.all(rooms.slice(0, 3).map(timeline));
    const settled = await Promise.allSettled([
      writer.append(rooms[0]!, [message('kept 0')]),
      // Not a member: the auth rules refuse it.
      writer.append(rooms[0]!, [{ type: 'm.room.message', sender: outsider.userId, content: { body: 'intruder' } }]),
      writer.append(rooms[1]!, [message('kept 1')]),
      // Over the event size limit.
      writer.append(rooms[1]!, [message('x'.repeat(70_000))]),
      // Not canonical JSON (a float).
      writer.append(rooms[2]!, [{ type: 'm.room.message', sender: alice.userId, content: { body: 'float', n: 1.5 } }]),
      writer.append(rooms[2]!, [message('kept 2')]),
      // A room that does not exist.
      writer.append('!nowhere:localhost', [message('lost')]),
    ]);
    const status = (s: PromiseSettledResult<unknown>) => (s.status === 'rejected' && s.reason instanceof MatrixError ? s.reason.status : s.status);
    expect(settled.map(status)).toEqual(['fulfilled', 403, 'fulfilled', 413, 400, 'fulfilled', 403]);
    for (let r = 0; r < 3; r++) {
      const got = (await timeline(rooms[r]!)).slice(before[r]!.length);
      expect(got.map((e) => e.content.body)).toEqual([`kept ${r}`]);
    }
  });

  it('redoes a batch the database refused one append at a time, so the others are answered', async () => {
    const before = await Promise.all(rooms.slice(0, 2).map(timeline));
    const { result: settled, headUpdates } = await countingHeadUpdates(db, () =>
      Promise.allSettled([
        writer.append(rooms[0]!, [message('first')]),
        // A NUL character: valid JSON, but PostgreSQL's jsonb refuses it, which fails the statement.
        writer.append(rooms[1]!, [message('nul \u0000 here')]),
        writer.append(rooms[1]!, [message('after it')]),
      ]),
    );
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    // The batch, then each append alone.
    expect(headUpdates).toBe(4);
    expect((await timeline(rooms[0]!)).slice(before[0]!.length).map((e) => e.content.body)).toEqual(['first']);
    expect((await timeline(rooms[1]!)).slice(before[1]!.length).map((e) => e.content.body)).toEqual(['after it']);
    // The room is still writable after the failure, and its chain is unbroken.
    const [next] = await writer.append(rooms[1]!, [message('next')]);
    const tail = await timeline(rooms[1]!);
    expect(tail.at(-1)!.event_id).toBe(next!.event_id);
  });
});

// Two processes on one PostgreSQL write batches into the same rooms at once: the room locks
// (taken in one order by both) keep each room a line, with every event once.
describe.skipIf(testDatabaseKind() !== 'postgres')('group commit on two servers sharing a database', () => {
  afterAll(async () => {
    await closeAllTestServers();
  });

  it('keeps each room a single chain when both write batches into the same rooms', async () => {
    const first = await startTestServer();
    const second = await startTestServer({}, { shareDatabaseOf: first });
    const alice = await quickUser(first.url);
    const shared: string[] = [];
    for (let r = 0; r < 4; r++) shared.push((await alice.api.post('/_matrix/client/v3/createRoom', { preset: 'private_chat' })).body.room_id);
    const msg = (body: string) => ({ type: 'm.room.message', sender: alice.userId, content: { msgtype: 'm.text', body } });
    // Each server queues appends for all rooms, in opposite room orders, several rounds.
    const sends: Array<Promise<Pdu[]>> = [];
    for (let round = 0; round < 5; round++) {
      shared.forEach((roomId, r) => sends.push(first.services.writer.append(roomId, [msg(`a${round}r${r}`)])));
      [...shared].reverse().forEach((roomId) => sends.push(second.services.writer.append(roomId, [msg(`b${round}`)])));
    }
    const written = (await Promise.all(sends)).map(([e]) => e!.event_id);
    expect(new Set(written).size).toBe(sends.length);
    for (const roomId of shared) {
      const res = await alice.api.get(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=f&limit=1000&from=s0_0`);
      const chunk = res.body.chunk as Array<{ event_id: string }>;
      const ids = chunk.map((e) => e.event_id);
      expect(new Set(ids).size).toBe(ids.length);
      // Each event's only parent is the event before it: no fork, no gap.
      const pdus = await first.services.db('events').where({ room_id: roomId }).orderBy('stream_pos', 'asc').select('json');
      const parsed = pdus.map((p: { json: Pdu | string }) => (typeof p.json === 'string' ? (JSON.parse(p.json) as Pdu) : p.json));
      for (let i = 1; i < parsed.length; i++) {
        expect(parsed[i]!.prev_events).toEqual([parsed[i - 1]!.event_id]);
        expect(parsed[i]!.depth).toBe(parsed[i - 1]!.depth + 1);
      }
      expect(parsed.filter((p) => p.type === 'm.room.message')).toHaveLength(10);
    }
  });
});
