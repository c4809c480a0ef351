// /sync and filters: initial and incremental syncs, long-polling, gaps (`limited`) closed with
// /messages from `prev_batch`, stored and inline filters, lazy-loaded members, account data,
// invites and leaves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncRoutes } from '../../../src/matrix/sync/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import {
  CallLog,
  V3,
  createRoom,
  expectError,
  invite,
  join,
  ok,
  registerSpecUser,
  sendMessage,
  sendState,
  sync,
  type SpecUser,
} from '../../support/spec-client.ts';

type Ev = { event_id: string; type: string; sender: string; state_key?: string; content: Record<string, any> };

const bodies = (events: Ev[]) => events.filter((e) => e.type === 'm.room.message').map((e) => e.content.body as string);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sync', () => {
  let server: TestServer;
  const log = new CallLog();
  let alice: SpecUser;
  let bob: SpecUser;
  let carol: SpecUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob, carol] = await Promise.all([registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log)]);
  });

  afterAll(async () => {
    log.expectRoutesCovered(syncRoutes(server.services));
    await closeAllTestServers();
  });

  it('gives a new client each room whole, then only what changed', async () => {
    const roomId = await createRoom(alice.api, { name: 'Poste de commandement', preset: 'public_chat' });
    await join(bob.api, roomId);
    await sendMessage(alice.api, roomId, 'first');
    const first = await sync(bob.api);
    expect(first.next_batch).toEqual(expect.any(String));
    const joined = first.rooms.join[roomId];
    expect(bodies(joined.timeline.events)).toEqual(['first']);
    const stateTypes = [...joined.state.events, ...joined.timeline.events].map((e: Ev) => e.type);
    expect(stateTypes).toEqual(expect.arrayContaining(['m.room.create', 'm.room.power_levels', 'm.room.name', 'm.room.member']));
    expect(joined.summary['m.joined_member_count']).toBe(2);
    expect(joined.summary['m.heroes']).toEqual([alice.userId]);
    expect(joined.unread_notifications.notification_count).toBe(1);

    // Nothing new: the room is not repeated.
    const idle = await sync(bob.api, { since: first.next_batch });
    expect(idle.rooms.join[roomId]).toBeUndefined();

    await sendMessage(alice.api, roomId, 'second');
    const next = await sync(bob.api, { since: idle.next_batch });
    expect(bodies(next.rooms.join[roomId].timeline.events)).toEqual(['second']);
    expect(next.rooms.join[roomId].timeline.limited).toBe(false);
    expect(next.rooms.join[roomId].state.events).toEqual([]);
    // full_state gives the state again.
    const full = await sync(bob.api, { since: next.next_batch, full_state: true });
    expect(full.rooms.join[roomId].state.events.map((e: Ev) => e.type)).toContain('m.room.create');
  });

  it('wakes a long-poll when a message arrives', async () => {
    const roomId = await createRoom(alice.api, { preset: 'public_chat' });
    await join(bob.api, roomId);
    const since = (await sync(bob.api)).next_batch;
    const polling = sync(bob.api, { since, timeout: 30_000 });
    await sleep(300); // the poll is waiting by now
    await sendMessage(alice.api, roomId, 'wake up');
    const res = await polling;
    // Had the poll not been woken it would have come back empty after 30 s.
    expect(bodies(res.rooms.join[roomId].timeline.events)).toEqual(['wake up']);
  });

  it('wakes a long-poll for an invite and for account data', async () => {
    const since = (await sync(carol.api)).next_batch;
    const polling = sync(carol.api, { since, timeout: 30_000 });
    await sleep(300);
    const roomId = await createRoom(alice.api, { name: 'Invitation' });
    await invite(alice.api, roomId, carol.userId);
    const res = await polling;
    const invited = res.rooms.invite[roomId];
    expect(invited.invite_state.events.find((e: Ev) => e.type === 'm.room.name')?.content.name).toBe('Invitation');

    const polling2 = sync(carol.api, { since: res.next_batch, timeout: 30_000 });
    await sleep(300);
    ok(await carol.api.put(`${V3}/user/${enc(carol.userId)}/account_data/org.tocsin.prefs`, { sound: 'siren' }));
    const res2 = await polling2;
    expect(res2.account_data.events).toContainEqual({ type: 'org.tocsin.prefs', content: { sound: 'siren' } });
    // A short poll with nothing to say comes back empty.
    const quiet = await sync(carol.api, { since: res2.next_batch, timeout: 200 });
    expect(Object.keys(quiet.rooms.join)).toEqual([]);
    expect(quiet.account_data.events).toEqual([]);
  });

  it('marks a gap as limited, and /messages from prev_batch fills it exactly', async () => {
    const roomId = await createRoom(alice.api, { preset: 'public_chat' });
    await join(bob.api, roomId);
    await sendMessage(alice.api, roomId, 'seen');
    const since = (await sync(bob.api)).next_batch;
    const sent: string[] = [];
    for (let i = 0; i < 15; i++) {
      sent.push(`m${i}`);
      await sendMessage(alice.api, roomId, `m${i}`);
    }
    const res = await sync(bob.api, { since, filter: { room: { timeline: { limit: 5 } } } });
    const timeline = res.rooms.join[roomId].timeline;
    expect(timeline.limited).toBe(true);
    expect(bodies(timeline.events)).toEqual(sent.slice(10));
    const back = ok(await bob.api.get(`${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=12&from=${enc(timeline.prev_batch)}`));
    expect(bodies(back.chunk)).toEqual([...sent.slice(0, 10)].reverse().concat(['seen']));
    // Paging on from `end` continues into older history without repeats.
    const older = ok(await bob.api.get(`${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=50&from=${enc(back.end)}`));
    expect(bodies(older.chunk)).not.toContain('seen');
    expect(older.chunk.some((e: Ev) => e.type === 'm.room.create')).toBe(true);

    // A state change inside the gap comes in `state`.
    const since2 = res.next_batch;
    await sendState(alice.api, roomId, 'm.room.topic', '', { topic: 'in the gap' });
    for (let i = 0; i < 6; i++) await sendMessage(alice.api, roomId, `n${i}`);
    const res2 = await sync(bob.api, { since: since2, filter: { room: { timeline: { limit: 3 } } } });
    expect(res2.rooms.join[roomId].timeline.limited).toBe(true);
    expect(res2.rooms.join[roomId].state.events.find((e: Ev) => e.type === 'm.room.topic')?.content.topic).toBe('in the gap');
  });

  describe('filters', () => {
    it('stores a filter and reads it back; ids are per user', async () => {
      const filter = { room: { timeline: { limit: 3, types: ['m.room.message'] }, state: { lazy_load_members: true } }, presence: { types: [] } };
      const id = ok(await bob.api.post(`${V3}/user/${enc(bob.userId)}/filter`, filter)).filter_id;
      expect(ok(await bob.api.get(`${V3}/user/${enc(bob.userId)}/filter/${enc(id)}`))).toEqual(filter);
      expectError(await alice.api.get(`${V3}/user/${enc(bob.userId)}/filter/${enc(id)}`), 403, 'M_FORBIDDEN');
      expectError(await alice.api.get(`${V3}/user/${enc(alice.userId)}/filter/${enc(id)}`), 404, 'M_NOT_FOUND');
      expectError(await alice.api.post(`${V3}/user/${enc(bob.userId)}/filter`, filter), 403, 'M_FORBIDDEN');
      // Alice cannot sync with Bob's filter id.
      expectError(await alice.api.get(`${V3}/sync?timeout=0&filter=${enc(id)}`), 404, 'M_NOT_FOUND');
      // A filter id is never inline JSON.
      for (const bad of ['999999', 'abc', `1' OR '1'='1`, '-1', '{}', JSON.stringify(filter)]) {
        expectError(await bob.api.get(`${V3}/user/${enc(bob.userId)}/filter/${enc(bad)}`), 404, 'M_NOT_FOUND');
      }
    });

    it('refuses malformed filters', async () => {
      for (const bad of [{ room: { timeline: { limit: 'x' } } }, { room: { rooms: 'x' } }, { event_format: 'xml' }, { room: { timeline: { types: [1] } } }]) {
        expectError(await bob.api.post(`${V3}/user/${enc(bob.userId)}/filter`, bad), 400, 'M_BAD_JSON');
        expectError(await bob.api.get(`${V3}/sync?timeout=0&filter=${enc(JSON.stringify(bad))}`), 400, 'M_BAD_JSON');
      }
      expectError(await bob.api.get(`${V3}/sync?timeout=0&filter=${enc('{nope')}`), 400, 'M_NOT_JSON');
    });

    it('applies stored and inline filters to rooms, timelines and account data', async () => {
      const a = await createRoom(alice.api, { preset: 'public_chat' });
      const b = await createRoom(alice.api, { preset: 'public_chat' });
      for (const r of [a, b]) {
        await join(bob.api, r);
        await sendState(alice.api, r, 'm.room.topic', '', { topic: 't' });
        await sendMessage(alice.api, r, `msg in ${r}`);
      }
      ok(await bob.api.put(`${V3}/user/${enc(bob.userId)}/account_data/org.tocsin.a`, { x: 1 }));
      ok(await bob.api.put(`${V3}/user/${enc(bob.userId)}/account_data/org.tocsin.b`, { x: 2 }));
      const stored = ok(await bob.api.post(`${V3}/user/${enc(bob.userId)}/filter`, {
        room: { rooms: [a], timeline: { types: ['m.room.message'] } },
        account_data: { types: ['org.tocsin.a'] },
      })).filter_id;
      for (const filter of [stored, { room: { rooms: [a], timeline: { types: ['m.room.message'] } }, account_data: { types: ['org.tocsin.a'] } }]) {
        const res = await sync(bob.api, { filter });
        expect(Object.keys(res.rooms.join)).toEqual([a]);
        expect(res.rooms.join[a].timeline.events.every((e: Ev) => e.type === 'm.room.message')).toBe(true);
        expect(res.account_data.events.map((e: { type: string }) => e.type)).toEqual(['org.tocsin.a']);
      }
      const notB = await sync(bob.api, { filter: { room: { not_rooms: [b] } } });
      expect(notB.rooms.join[b]).toBeUndefined();
      expect(notB.rooms.join[a]).toBeDefined();
      const noState = await sync(bob.api, { filter: { room: { rooms: [a], state: { not_types: ['*'] } } } });
      expect(noState.rooms.join[a].state.events).toEqual([]);
    });

    it('lazy-loads members: only the senders of the timeline, and oneself', async () => {
      const roomId = await createRoom(alice.api, { preset: 'public_chat' });
      const extras = await Promise.all([registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log)]);
      for (const u of [bob, carol, ...extras]) await join(u.api, roomId);
      for (let i = 0; i < 5; i++) await sendMessage(bob.api, roomId, `bob ${i}`);
      const filter = { room: { rooms: [roomId], timeline: { limit: 3 }, state: { lazy_load_members: true } } };
      const lazy = await sync(carol.api, { filter });
      const members = [...lazy.rooms.join[roomId].state.events, ...lazy.rooms.join[roomId].timeline.events]
        .filter((e: Ev) => e.type === 'm.room.member')
        .map((e: Ev) => e.state_key);
      expect(new Set(members)).toEqual(new Set([bob.userId, carol.userId]));
      // Without lazy loading, everyone.
      const all = await sync(carol.api, { filter: { room: { rooms: [roomId], timeline: { limit: 3 } } } });
      const everyone = all.rooms.join[roomId].state.events.filter((e: Ev) => e.type === 'm.room.member').map((e: Ev) => e.state_key);
      expect(new Set(everyone)).toEqual(new Set([alice.userId, bob.userId, carol.userId, ...extras.map((u) => u.userId)]));
      // The summary still counts everyone, so clients can name the room.
      expect(lazy.rooms.join[roomId].summary['m.joined_member_count']).toBe(6);
    });
  });

  it('sends account data, globally and per room, in initial and incremental syncs', async () => {
    const roomId = await createRoom(bob.api);
    const since = (await sync(bob.api)).next_batch;
    ok(await bob.api.put(`${V3}/user/${enc(bob.userId)}/account_data/m.direct`, { [alice.userId]: [roomId] }));
    ok(await bob.api.put(`${V3}/user/${enc(bob.userId)}/rooms/${enc(roomId)}/account_data/m.tag`, { tags: { 'u.crise': {} } }));
    const inc = await sync(bob.api, { since });
    expect(inc.account_data.events).toContainEqual({ type: 'm.direct', content: { [alice.userId]: [roomId] } });
    expect(inc.rooms.join[roomId].account_data.events).toContainEqual({ type: 'm.tag', content: { tags: { 'u.crise': {} } } });
    const initial = await sync(bob.api);
    expect(initial.account_data.events).toContainEqual({ type: 'm.direct', content: { [alice.userId]: [roomId] } });
    expect(initial.rooms.join[roomId].account_data.events).toContainEqual({ type: 'm.tag', content: { tags: { 'u.crise': {} } } });
  });

  it('shows a joined room whole when it is new to the client, and a left room in leave', async () => {
    const roomId = await createRoom(alice.api, { preset: 'public_chat', name: 'Nouvelle' });
    for (let i = 0; i < 3; i++) await sendMessage(alice.api, roomId, `old ${i}`);
    const since = (await sync(carol.api)).next_batch;
    await join(carol.api, roomId);
    const res = await sync(carol.api, { since });
    const room = res.rooms.join[roomId];
    const types = [...room.state.events, ...room.timeline.events].map((e: Ev) => e.type);
    expect(types).toEqual(expect.arrayContaining(['m.room.create', 'm.room.name', 'm.room.power_levels']));
    expect(bodies(room.timeline.events)).toEqual(['old 0', 'old 1', 'old 2']);

    ok(await carol.api.post(`${V3}/rooms/${enc(roomId)}/leave`, {}));
    await sendMessage(alice.api, roomId, 'after carol left');
    const left = await sync(carol.api, { since: res.next_batch });
    expect(left.rooms.join[roomId]).toBeUndefined();
    const leaveSection = left.rooms.leave[roomId];
    const me = leaveSection.timeline.events.find((e: Ev) => e.type === 'm.room.member' && e.state_key === carol.userId);
    expect(me.content.membership).toBe('leave');
    expect(bodies(leaveSection.timeline.events)).not.toContain('after carol left');
  });

  it('tells a user in the leave section that an invite was rejected or withdrawn, or that they were kicked or banned', async () => {
    const rooms = { rejected: await createRoom(alice.api), withdrawn: await createRoom(alice.api), kicked: await createRoom(alice.api, { preset: 'public_chat' }), banned: await createRoom(alice.api, { preset: 'public_chat' }) };
    await invite(alice.api, rooms.rejected, carol.userId);
    await invite(alice.api, rooms.withdrawn, carol.userId);
    await join(carol.api, rooms.kicked);
    await join(carol.api, rooms.banned);
    const since = (await sync(carol.api)).next_batch;
    ok(await carol.api.post(`${V3}/rooms/${enc(rooms.rejected)}/leave`, {}));
    ok(await alice.api.post(`${V3}/rooms/${enc(rooms.withdrawn)}/kick`, { user_id: carol.userId }));
    ok(await alice.api.post(`${V3}/rooms/${enc(rooms.kicked)}/kick`, { user_id: carol.userId, reason: 'kick' }));
    ok(await alice.api.post(`${V3}/rooms/${enc(rooms.banned)}/ban`, { user_id: carol.userId, reason: 'ban' }));
    const res = await sync(carol.api, { since });
    for (const [why, roomId] of Object.entries(rooms)) {
      const section = res.rooms.leave[roomId];
      expect(section, why).toBeDefined();
      const mine = section.timeline.events.filter((e: Ev) => e.type === 'm.room.member' && e.state_key === carol.userId).at(-1);
      expect(mine?.content.membership, why).toBe(why === 'banned' ? 'ban' : 'leave');
      expect(res.rooms.join[roomId], why).toBeUndefined();
      expect(res.rooms.invite[roomId], why).toBeUndefined();
    }
  });

  it('validates its parameters and its token', async () => {
    for (const since of ['garbage', 's1', 's-1_0', `s1_1' OR 1=1`]) expectError(await bob.api.get(`${V3}/sync?since=${enc(since)}`), 400, 'M_INVALID_PARAM');
    for (const timeout of ['-1', 'soon', 'Infinity']) expectError(await bob.api.get(`${V3}/sync?timeout=${timeout}`), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.get(`${V3}/sync?full_state=maybe`), 400, 'M_INVALID_PARAM');
    // A token from the future is clamped, not trusted.
    const future = await sync(bob.api, { since: 's999999999_999999' });
    expect(future.next_batch).toEqual(expect.any(String));
    const gone = await registerSpecUser(server.url, log);
    ok(await gone.api.post(`${V3}/logout`, {}));
    expectError(await gone.api.get(`${V3}/sync`), 401, 'M_UNKNOWN_TOKEN');
  });
});
