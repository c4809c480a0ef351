import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

/**
 * Stream positions under concurrency (DESIGN.md, "Storage"): many senders write at once while
 * syncing readers long-poll /sync. Every reader must get every event exactly once, in each
 * room in the order /messages gives. A reader that advanced past a position some writer had
 * not committed yet would silently miss that event; this test would see the hole.
 */

const SENDERS = 24;
const READERS = 5;
const ROOMS = 2;
const PER_SENDER_PER_ROOM = 6; // 24 senders x 2 rooms x 6 = 288 events
const LONG_POLL_MS = 30_000;
const DEADLINE_MS = 90_000;
// Some readers ask for long timelines (gaps are rare), others keep the default of 10, so that
// `limited` timelines happen and are filled from /messages, the way clients do it.
const filterOf = (reader: number) => (reader % 2 === 0 ? JSON.stringify({ room: { timeline: { limit: 100 } } }) : '{}');

interface Received {
  /** Per room, the message event ids in the order the reader got them. */
  byRoom: Map<string, string[]>;
  gaps: number;
  syncs: number;
  /** Syncs answered while senders were still sending. */
  duringBurst: number;
  sizes: number[];
}

let users = 0;

/** Open registration without a password: no argon2 hashing for the 29 accounts of this test. */
async function quickUser(baseUrl: string): Promise<TestUser> {
  const localpart = `so${process.pid}x${++users}x${Math.random().toString(36).slice(2, 7)}`;
  const res = await new Api(baseUrl).post('/_matrix/client/v3/register', { username: localpart, auth: { type: 'm.login.dummy' } });
  if (res.status !== 200) throw new Error(`register ${localpart}: ${res.status} ${JSON.stringify(res.body)}`);
  return { userId: res.body.user_id, token: res.body.access_token, deviceId: res.body.device_id, api: new Api(baseUrl, res.body.access_token), password: '' };
}

async function call(user: TestUser, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<any> {
  const res = await fetch(`${user.api.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${user.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal,
  });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Events of a room between two sync positions, oldest first (how clients fill a limited timeline). */
async function fillGap(user: TestUser, roomId: string, from: string, to: string): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | undefined = from;
  while (cursor) {
    const page = await call(user, 'GET', `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=100&from=${enc(cursor)}&to=${enc(to)}`);
    out.push(...page.chunk);
    cursor = page.end;
  }
  return out.reverse();
}

/** The whole timeline of a room, as /messages returns it from the start (dir=f). */
async function allMessages(user: TestUser, roomId: string): Promise<string[]> {
  const ids: string[] = [];
  let from: string | undefined = 's0_0';
  while (from) {
    const page = await call(user, 'GET', `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=f&limit=100&from=${enc(from)}`);
    for (const e of page.chunk) if (e.type === 'm.room.message') ids.push(e.event_id);
    from = page.end;
  }
  return ids;
}

describe('stream order under concurrent senders', () => {
  let server: TestServer;
  let senders: TestUser[];
  let readers: TestUser[];
  let rooms: string[];

  beforeAll(async () => {
    server = await startTestServer();
    senders = await Promise.all(Array.from({ length: SENDERS }, () => quickUser(server.url)));
    readers = await Promise.all(Array.from({ length: READERS }, () => quickUser(server.url)));
    rooms = [];
    for (let i = 0; i < ROOMS; i++) {
      const created = await call(senders[0]!, 'POST', '/_matrix/client/v3/createRoom', { preset: 'public_chat', name: `stream order ${i}` });
      rooms.push(created.room_id);
    }
    for (const u of [...senders.slice(1), ...readers]) {
      for (const r of rooms) await call(u, 'POST', `/_matrix/client/v3/join/${enc(r)}`, {});
    }
  });

  afterAll(async () => {
    await closeAllTestServers();
  });

  it('gives every syncing reader every event exactly once, in /messages order', async () => {
    let sendingDone = false;
    const expected = new Set<string>();
    const stop = new AbortController();

    const readLoop = async (reader: TestUser, index: number): Promise<Received> => {
      const filter = filterOf(index);
      const got: Received = { byRoom: new Map(rooms.map((r) => [r, []])), gaps: 0, syncs: 0, duringBurst: 0, sizes: [] };
      const initial = await call(reader, 'GET', `/_matrix/client/v3/sync?timeout=0&filter=${enc(filter)}`);
      let since: string = initial.next_batch;
      const deadline = Date.now() + DEADLINE_MS;
      const count = () => [...got.byRoom.values()].reduce((n, l) => n + l.length, 0);
      // Keep long-polling until the burst is over and everything sent has arrived.
      while (!(sendingDone && count() >= expected.size) && Date.now() < deadline) {
        let body: any;
        try {
          body = await call(reader, 'GET', `/_matrix/client/v3/sync?since=${enc(since)}&timeout=${LONG_POLL_MS}&filter=${enc(filter)}`, undefined, stop.signal);
        } catch (err) {
          if (stop.signal.aborted) break;
          throw err;
        }
        got.syncs++;
        if (!sendingDone) got.duringBurst++;
        got.sizes.push(Object.values<any>(body.rooms?.join ?? {}).reduce((n, r) => n + r.timeline.events.length, 0));
        for (const [roomId, room] of Object.entries<any>(body.rooms?.join ?? {})) {
          let events: any[] = room.timeline.events;
          if (room.timeline.limited) {
            got.gaps++;
            events = [...(await fillGap(reader, roomId, room.timeline.prev_batch, since)), ...events];
          }
          const list = got.byRoom.get(roomId);
          if (!list) continue;
          for (const e of events) if (e.type === 'm.room.message') list.push(e.event_id);
        }
        since = body.next_batch;
      }
      // Nothing more may come: a last sync must bring no message at all (no late duplicate).
      const last = await call(reader, 'GET', `/_matrix/client/v3/sync?since=${enc(since)}&timeout=0&filter=${enc(filter)}`);
      for (const [roomId, room] of Object.entries<any>(last.rooms?.join ?? {})) {
        for (const e of room.timeline.events) if (e.type === 'm.room.message') got.byRoom.get(roomId)?.push(e.event_id);
      }
      return got;
    };

    const reading = Promise.all(readers.map(readLoop));
    // Let every reader be waiting in its long-poll before the burst starts.
    await new Promise((r) => setTimeout(r, 300));

    // Every sender has one lane per room; all lanes of all senders run at once.
    const sendLane = async (sender: TestUser, si: number, roomId: string, ri: number) => {
      for (let k = 0; k < PER_SENDER_PER_ROOM; k++) {
        const txn = `so-${si}-${ri}-${k}`;
        const res = await call(sender, 'PUT', `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${txn}`, {
          msgtype: 'm.text',
          body: `sender ${si} room ${ri} #${k}`,
        });
        expected.add(res.event_id);
      }
    };
    try {
      await Promise.all(senders.flatMap((s, si) => rooms.map((r, ri) => sendLane(s, si, r, ri))));
    } finally {
      sendingDone = true;
    }
    expect(expected.size).toBe(SENDERS * ROOMS * PER_SENDER_PER_ROOM);

    // Readers stop by themselves once they have everything; the abort only bounds a broken run.
    const guard = setTimeout(() => stop.abort(), DEADLINE_MS);
    let results: Received[];
    try {
      results = await reading;
    } finally {
      clearTimeout(guard);
      stop.abort();
    }

    const canonical = new Map<string, string[]>();
    for (const r of rooms) canonical.set(r, await allMessages(readers[0]!, r));
    const all = [...canonical.values()].flat();
    expect(new Set(all).size).toBe(all.length);
    expect(new Set(all)).toEqual(expected);

    if (process.env.TOCSIN_TEST_VERBOSE) {
      console.log(results.map((g) => `syncs=${g.syncs} during burst=${g.duringBurst} gaps=${g.gaps} events per sync=${g.sizes.join(',')}`).join('\n'));
    }
    for (const [i, got] of results.entries()) {
      for (const r of rooms) {
        const seen = got.byRoom.get(r)!;
        const dupes = seen.filter((id, k) => seen.indexOf(id) !== k);
        const missing = canonical.get(r)!.filter((id) => !seen.includes(id));
        expect({ reader: i, room: r, dupes, missing }).toEqual({ reader: i, room: r, dupes: [], missing: [] });
        expect(seen).toEqual(canonical.get(r));
      }
      // The reader really synced during the burst, not only once it was over.
      expect(got.duringBurst).toBeGreaterThan(0);
    }
  });
});
