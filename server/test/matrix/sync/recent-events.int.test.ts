// Incremental syncs take their events from memory (matrix/sync/recent-events.ts) and their
// notification counts from the rooms query. Each answer here is compared with the one the
// database path gives (a SyncService without the cache, reading events and counts as before)
// for the same token, over sends, state changes, redactions, edits, receipts, leaves and joins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFilter, type Filter } from '../../../src/matrix/sync/filters.ts';
import { RecentEvents } from '../../../src/matrix/sync/recent-events.ts';
import { SyncService } from '../../../src/matrix/sync/sync-service.ts';
import * as eventsRepo from '../../../src/storage/events.ts';
import { enc, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const V3 = '/_matrix/client/v3';
type Json = Record<string, unknown>;

/** The answer without `unsigned.age` (the only part that depends on when it was built). */
function withoutAge(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutAge);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Json).filter(([k]) => k !== 'age').map(([k, x]) => [k, withoutAge(x)]));
  }
  return v;
}

describe('sync answers from memory', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let roomId: string;
  let cached: SyncService;
  let recent: RecentEvents;
  let reference: SyncService;

  beforeAll(async () => {
    server = await startTestServer();
    const s = server.services;
    alice = await registerUser(server.url);
    bob = await registerUser(server.url);
    carol = await registerUser(server.url);
    // The same parts as the server's, with a cache of their own (held events counted) and,
    // for reference, the database path.
    recent = new RecentEvents(s.db);
    s.writer.onCommitted((events) => recent.add(events));
    cached = new SyncService({
      db: s.db,
      bus: s.bus,
      typing: s.typing,
      counts: (u, a) => s.push.counts(u, a),
      countsWithTail: (u, r, t) => s.push.countsWithTail(u, r, t),
      recent,
    });
    reference = new SyncService({ db: s.db, bus: s.bus, typing: s.typing, counts: (u, a) => s.push.counts(u, a) });
    roomId = (await alice.api.post(`${V3}/createRoom`, { preset: 'public_chat', name: 'cache' })).body.room_id;
    expect((await bob.api.post(`${V3}/join/${enc(roomId)}`, {})).status).toBe(200);
  });

  afterAll(closeAllTestServers);

  const tokens = new Map<string, string>();
  const filters: Record<string, Filter> = {
    plain: parseFilter({}),
    small: parseFilter({ room: { timeline: { limit: 2 }, state: { lazy_load_members: true } } }),
    typed: parseFilter({ room: { timeline: { types: ['m.room.message'] } } }),
  };

  /** Syncs `user` from its last token with both services; they must agree. Returns the answer. */
  async function both(user: TestUser, filterName = 'plain'): Promise<Json> {
    const key = `${user.userId}/${filterName}`;
    let since = tokens.get(key);
    if (since === undefined) {
      since = (await reference.sync({ userId: user.userId, deviceId: user.deviceId }, { timeoutMs: 0, filter: filters[filterName]!, fullState: false })).next_batch as string;
    }
    const req = { since, timeoutMs: 0, filter: filters[filterName]!, fullState: false };
    const viewer = { userId: user.userId, deviceId: user.deviceId };
    const fromMemory = await cached.sync(viewer, req);
    const fromDatabase = await reference.sync(viewer, req);
    expect(withoutAge(fromMemory)).toEqual(withoutAge(fromDatabase));
    tokens.set(key, fromMemory.next_batch as string);
    return fromMemory;
  }

  async function everyone(): Promise<void> {
    for (const u of [alice, bob, carol]) for (const f of Object.keys(filters)) await both(u, f);
  }

  const send = async (user: TestUser, body: string, extra: Json = {}) => {
    const res = await user.api.put(`${V3}/rooms/${enc(roomId)}/send/m.room.message/${Math.random().toString(36).slice(2)}`, { msgtype: 'm.text', body, ...extra });
    expect(res.status).toBe(200);
    return res.body.event_id as string;
  };

  it('gives the answer of the database path for sends, state, redactions, edits, receipts, leaves and joins', async () => {
    await everyone();
    const held0 = recent.stats.held;

    const m1 = await send(alice, 'one');
    await send(bob, `@${alice.userId}: two`);
    const joined = await both(bob);
    expect(Object.keys((joined.rooms as Json).join as Json)).toEqual([roomId]);
    await everyone();
    expect(recent.stats.held).toBeGreaterThan(held0);

    // A state change and a receipt.
    expect((await alice.api.put(`${V3}/rooms/${enc(roomId)}/state/m.room.topic/`, { topic: 'cached' })).status).toBe(200);
    expect((await bob.api.post(`${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(m1)}`, {})).status).toBe(200);
    await everyone();

    // A redaction of an event in the window, and one of an event already delivered.
    const m3 = await send(alice, 'three');
    expect((await alice.api.put(`${V3}/rooms/${enc(roomId)}/redact/${enc(m3)}/r1`, { reason: 'oops' })).status).toBe(200);
    await everyone();
    expect((await alice.api.put(`${V3}/rooms/${enc(roomId)}/redact/${enc(m1)}/r2`, {})).status).toBe(200);
    await everyone();

    // An edit, then more events than the small filter's limit (a limited timeline).
    await send(alice, '* one', { 'm.new_content': { msgtype: 'm.text', body: 'one' }, 'm.relates_to': { rel_type: 'm.replace', event_id: m1 } });
    for (let i = 0; i < 4; i++) await send(bob, `burst ${i}`);
    await everyone();

    // Carol joins (new to her: whole room), sends, leaves; Bob leaves.
    expect((await carol.api.post(`${V3}/join/${enc(roomId)}`, {})).status).toBe(200);
    await everyone();
    await send(carol, 'hello from carol');
    await everyone();
    expect((await carol.api.post(`${V3}/rooms/${enc(roomId)}/leave`, {})).status).toBe(200);
    await send(alice, 'after carol left');
    await everyone();
    expect((await bob.api.post(`${V3}/rooms/${enc(roomId)}/leave`, {})).status).toBe(200);
    await everyone();
  });

  it('reads the events it does not hold from the database (another node, or a restart), once for all syncs', async () => {
    // A cache that saw none of the writes, as on a second node or after a restart.
    const cold = new RecentEvents(server.services.db);
    const coldSync = new SyncService({
      db: server.services.db,
      bus: server.services.bus,
      typing: server.services.typing,
      counts: (u, a) => server.services.push.counts(u, a),
      countsWithTail: (u, r, t) => server.services.push.countsWithTail(u, r, t),
      recent: cold,
    });
    const since = tokens.get(`${alice.userId}/plain`)!;
    const m = await send(alice, 'for the cold cache');
    const viewer = { userId: alice.userId, deviceId: alice.deviceId };
    const req = { since, timeoutMs: 0, filter: filters.plain!, fullState: false };
    const [a, b] = await Promise.all([coldSync.sync(viewer, req), coldSync.sync(viewer, req)]);
    expect(withoutAge(a)).toEqual(withoutAge(await reference.sync(viewer, req)));
    expect(withoutAge(b)).toEqual(withoutAge(a));
    const events = ((a.rooms as Json).join as Record<string, { timeline: { events: Array<{ event_id: string }> } }>)[roomId]!.timeline.events;
    expect(events.map((e) => e.event_id)).toContain(m);
    // Two syncs at once, one read of the database for the event.
    expect(cold.stats.read).toBe(1);
  });

  it('keeps within its bounds, and still gives what it held when a read evicts it meanwhile', async () => {
    const db = server.services.db;
    const otherRoom = (await alice.api.post(`${V3}/createRoom`, { preset: 'private_chat', name: 'other' })).body.room_id as string;
    for (let i = 0; i < 6; i++) await alice.api.put(`${V3}/rooms/${enc(otherRoom)}/send/m.room.message/o${i}`, { msgtype: 'm.text', body: `o${i}` });
    const a = await eventsRepo.roomEventsBetween(db, roomId, { limit: 5, backwards: true });
    const b = await eventsRepo.roomEventsBetween(db, otherRoom, { limit: 10, backwards: true });
    expect(b.length).toBe(10);

    // Three per room: the older two of five are let go (read again when asked for).
    const small = new RecentEvents(db, { perRoom: 3, maxEvents: 100 });
    small.add([...a].reverse());
    const all = await small.resolve(new Map([[roomId, a.map((e) => e.streamPos)]]));
    expect(all.get(roomId)!.map((e) => e.pdu.event_id)).toEqual(a.map((e) => e.pdu.event_id));
    expect(small.stats).toEqual({ held: 3, read: 2 });

    // Room A's events are held, room B's are read; while they are read, B's other events come in
    // and evict room A (8 events in all): A's answer must still be whole.
    const evicting = new RecentEvents(db, { perRoom: 8, maxEvents: 8 });
    evicting.add(a.slice(0, 3).reverse());
    const wanted = new Map([[roomId, a.slice(0, 3).map((e) => e.streamPos)], [otherRoom, b.slice(8).map((e) => e.streamPos)]]);
    const answer = evicting.resolve(wanted);
    evicting.add(b.slice(0, 8).reverse());
    const got = await answer;
    expect(got.get(roomId)!.map((e) => e.pdu.event_id)).toEqual(a.slice(0, 3).map((e) => e.pdu.event_id));
    expect(got.get(otherRoom)!.map((e) => e.pdu.event_id)).toEqual(b.slice(8).map((e) => e.pdu.event_id));
    expect(evicting.stats).toEqual({ held: 3, read: 2 });
  });
});
