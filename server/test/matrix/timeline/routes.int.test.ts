// The timeline: sending (with transaction ids), state, redactions, and the read paths
// (/event, /messages, /context, /state).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timelineRoutes } from '../../../src/matrix/timeline/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import {
  CallLog,
  SpecApi,
  V3,
  createRoom,
  expectError,
  join,
  ok,
  registerSpecUser,
  sendMessage,
  sendState,
  sync,
  txn,
  type SpecUser,
} from '../../support/spec-client.ts';

type Ev = { event_id: string; type: string; sender: string; content: Record<string, any>; unsigned?: Record<string, any>; state_key?: string; redacts?: string };

describe('timeline routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let anon: SpecApi;
  let alice: SpecUser;
  let bob: SpecUser;
  let carol: SpecUser;
  let roomId: string;

  beforeAll(async () => {
    server = await startTestServer();
    anon = new SpecApi(server.url, undefined, log);
    alice = await registerSpecUser(server.url, log, undefined, 'alice-pw');
    bob = await registerSpecUser(server.url, log);
    carol = await registerSpecUser(server.url, log);
    roomId = await createRoom(alice.api, { preset: 'public_chat', name: 'Main courante' });
    await join(bob.api, roomId);
  });

  afterAll(async () => {
    log.expectRoutesCovered(timelineRoutes(server.services));
    await closeAllTestServers();
  });

  const room = (r: string, rest: string) => `${V3}/rooms/${enc(r)}/${rest}`;
  const getEvent = async (user: SpecUser, r: string, eventId: string): Promise<Ev> => ok(await user.api.get(room(r, `event/${enc(eventId)}`)));

  describe('sending', () => {
    it('is idempotent per device and transaction id', async () => {
      const id = txn();
      const first = ok(await alice.api.put(room(roomId, `send/m.room.message/${id}`), { msgtype: 'm.text', body: 'once' })).event_id;
      expect(first).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
      const again = ok(await alice.api.put(room(roomId, `send/m.room.message/${id}`), { msgtype: 'm.text', body: 'once' })).event_id;
      expect(again).toBe(first);
      // Even with another body: the transaction already happened.
      expect(ok(await alice.api.put(room(roomId, `send/m.room.message/${id}`), { msgtype: 'm.text', body: 'twice?' })).event_id).toBe(first);
      // The same txn id from another device of the same user, or from another user, is another event.
      const login = ok(await anon.post(`${V3}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.userId }, password: 'alice-pw' }));
      const otherDevice = anon.as(login.access_token);
      const fromOtherDevice = ok(await otherDevice.put(room(roomId, `send/m.room.message/${id}`), { msgtype: 'm.text', body: 'once' })).event_id;
      expect(fromOtherDevice).not.toBe(first);
      const fromBob = ok(await bob.api.put(room(roomId, `send/m.room.message/${id}`), { msgtype: 'm.text', body: 'once' })).event_id;
      expect(new Set([first, fromOtherDevice, fromBob]).size).toBe(3);

      const bodies = ok(await alice.api.get(room(roomId, 'messages?dir=b&limit=10'))).chunk.filter((e: Ev) => e.type === 'm.room.message').map((e: Ev) => e.content.body);
      expect(bodies.filter((b: string) => b === 'once')).toHaveLength(3);
      expect(bodies).not.toContain('twice?');

      // transaction_id is shown to the sending device only.
      expect((await getEvent(alice, roomId, first)).unsigned?.transaction_id).toBe(id);
      expect(ok(await otherDevice.get(room(roomId, `event/${enc(first)}`))).unsigned?.transaction_id).toBeUndefined();
      expect((await getEvent(bob, roomId, first)).unsigned?.transaction_id).toBeUndefined();
      const timelineOf = async (api: SpecApi) => (await sync(api, { filter: { room: { rooms: [roomId], timeline: { limit: 50 } } } })).rooms.join[roomId].timeline.events as Ev[];
      expect((await timelineOf(alice.api)).find((e) => e.event_id === first)?.unsigned?.transaction_id).toBe(id);
      expect((await timelineOf(otherDevice)).find((e) => e.event_id === first)?.unsigned?.transaction_id).toBeUndefined();
      expect((await timelineOf(bob.api)).find((e) => e.event_id === first)?.unsigned).toBeDefined();
      expect((await timelineOf(bob.api)).find((e) => e.event_id === first)?.unsigned?.transaction_id).toBeUndefined();
    });

    it('scopes a transaction id to its path: another room, type or endpoint is another request', async () => {
      const id = txn();
      const other = await createRoom(alice.api, { preset: 'public_chat' });
      const inRoom = ok(await alice.api.put(room(roomId, `send/m.room.message/${id}`), { msgtype: 'm.text', body: 'in the first room' })).event_id;
      const inOther = ok(await alice.api.put(room(other, `send/m.room.message/${id}`), { msgtype: 'm.text', body: 'in the other room' })).event_id;
      expect(inOther).not.toBe(inRoom);
      expect((await getEvent(alice, other, inOther)).content.body).toBe('in the other room');
      const otherType = ok(await alice.api.put(room(roomId, `send/org.tocsin.note/${id}`), { body: 'another type' })).event_id;
      expect(new Set([inRoom, inOther, otherType]).size).toBe(3);
      // The same id on /redact redacts: it does not replay the message.
      const redaction = ok(await alice.api.put(room(roomId, `redact/${enc(inRoom)}/${id}`), {})).event_id;
      expect(redaction).not.toBe(inRoom);
      expect((await getEvent(alice, roomId, inRoom)).content).toEqual({});
      // Each of them is still idempotent on its own path.
      expect(ok(await alice.api.put(room(other, `send/m.room.message/${id}`), { msgtype: 'm.text', body: 'in the other room' })).event_id).toBe(inOther);
      expect(ok(await alice.api.put(room(roomId, `redact/${enc(inRoom)}/${id}`), {})).event_id).toBe(redaction);
    });

    it('gives concurrent retries of one transaction the same event', async () => {
      const id = txn();
      const replies = await Promise.all(
        Array.from({ length: 6 }, () => alice.api.put(room(roomId, `send/m.room.message/${id}`), { msgtype: 'm.text', body: 'retried in parallel' })),
      );
      const eventIds = new Set(replies.map((r) => ok(r).event_id));
      expect(eventIds.size).toBe(1);
      const chunk = ok(await alice.api.get(room(roomId, 'messages?dir=b&limit=20'))).chunk as Ev[];
      expect(chunk.filter((e) => e.content.body === 'retried in parallel')).toHaveLength(1);
    });

    it('refuses events over 65,536 bytes with 413 M_TOO_LARGE', async () => {
      const big = 'x'.repeat(66_000);
      expectError(await alice.api.put(room(roomId, `send/m.room.message/${txn()}`), { msgtype: 'm.text', body: big }), 413, 'M_TOO_LARGE');
      expectError(await alice.api.put(room(roomId, 'state/org.tocsin.big/'), { blob: big }), 413, 'M_TOO_LARGE');
      // Multi-byte characters count in bytes: 22,000 × 3 bytes is too much too.
      expectError(await alice.api.put(room(roomId, `send/m.room.message/${txn()}`), { msgtype: 'm.text', body: '€'.repeat(22_000) }), 413, 'M_TOO_LARGE');
      // Just under the limit goes through.
      ok(await alice.api.put(room(roomId, `send/m.room.message/${txn()}`), { msgtype: 'm.text', body: 'x'.repeat(60_000) }));
    });

    it('validates types, transaction ids and content', async () => {
      expectError(await alice.api.put(room(roomId, `send/${'t'.repeat(256)}/${txn()}`), {}), 400, 'M_INVALID_PARAM');
      expectError(await alice.api.put(room(roomId, `send/m.room.message/${'t'.repeat(256)}`), {}), 400, 'M_INVALID_PARAM');
      expectError(await alice.api.put(room(roomId, `send/m.room.message/${txn()}`), { n: 1.5 }), 400, 'M_BAD_JSON');
      expectError(await alice.api.put(`${V3}/rooms/not-a-room/send/m.room.message/${txn()}`, {}), 400, 'M_INVALID_PARAM');
      // Odd but valid: any object is content, any type string is a type.
      ok(await alice.api.put(room(roomId, `send/${enc("org.example.o'brien\"; --")}/${txn()}`), {}));
    });

    it('refuses senders who are not joined, and rooms that do not exist', async () => {
      expectError(await carol.api.put(room(roomId, `send/m.room.message/${txn()}`), { msgtype: 'm.text', body: 'x' }), 403, 'M_FORBIDDEN');
      expectError(await alice.api.put(room('!nope:localhost', `send/m.room.message/${txn()}`), { msgtype: 'm.text', body: 'x' }), 403, 'M_FORBIDDEN');
    });
  });

  describe('state', () => {
    it('writes and reads state, by content or as an event, with or without a trailing slash', async () => {
      const eventId = await sendState(alice.api, roomId, 'm.room.topic', '', { topic: 'Crue de la Seine' });
      for (const path of ['state/m.room.topic', 'state/m.room.topic/']) {
        expect(ok(await bob.api.get(room(roomId, path)))).toEqual({ topic: 'Crue de la Seine' });
      }
      const asEvent = ok(await bob.api.get(room(roomId, 'state/m.room.topic/?format=event')));
      expect(asEvent).toMatchObject({ event_id: eventId, type: 'm.room.topic', state_key: '', sender: alice.userId, content: { topic: 'Crue de la Seine' } });
      // Keys with odd characters round-trip.
      for (const key of ['a/b', 'sp ace', "quo'te\"", 'ünï😀', 'a..b']) {
        await sendState(alice.api, roomId, 'org.tocsin.k', key, { key });
        expect(ok(await bob.api.get(room(roomId, `state/org.tocsin.k/${enc(key)}`)))).toEqual({ key });
      }
      const all = ok(await bob.api.get(room(roomId, 'state'))) as Ev[];
      expect(all.find((e) => e.type === 'm.room.topic')?.content.topic).toBe('Crue de la Seine');
      expect(all.filter((e) => e.type === 'org.tocsin.k')).toHaveLength(5);
      // Replacing state keeps the previous content in unsigned.
      await sendState(alice.api, roomId, 'm.room.topic', '', { topic: 'Décrue' });
      const replaced = ok(await bob.api.get(room(roomId, 'state/m.room.topic/?format=event')));
      expect(replaced.unsigned.prev_content).toEqual({ topic: 'Crue de la Seine' });
    });

    it('refuses a second m.room.create', async () => {
      expectError(await alice.api.put(room(roomId, 'state/m.room.create/'), { room_version: '11' }), 403, 'M_FORBIDDEN');
      expect(ok(await bob.api.get(room(roomId, 'state/m.room.create/'))).room_version).toBe('10');
    });

    it('answers 404 for state that is not there, 403 outside the room', async () => {
      expectError(await bob.api.get(room(roomId, 'state/m.room.avatar/')), 404, 'M_NOT_FOUND');
      expectError(await bob.api.get(room(roomId, `state/m.room.member/${enc('@ghost:localhost')}`)), 404, 'M_NOT_FOUND');
      expectError(await carol.api.get(room(roomId, 'state/m.room.topic/')), 403, 'M_FORBIDDEN');
      expectError(await carol.api.get(room(roomId, 'state')), 403, 'M_FORBIDDEN');
      expectError(await carol.api.get(room('!nope:localhost', 'state')), 403, 'M_FORBIDDEN');
      expectError(await alice.api.put(room(roomId, `state/org.tocsin.k/${enc('k'.repeat(300))}`), {}), 400, 'M_INVALID_PARAM');
    });

    it('checks canonical aliases point at the room', async () => {
      const res = await alice.api.put(room(roomId, 'state/m.room.canonical_alias/'), { alias: '#elsewhere:localhost' });
      expect(res.status).toBe(400);
      expect(res.body.errcode).toBe('M_BAD_ALIAS');
      const alias = `#mc-${process.pid}:localhost`;
      ok(await alice.api.put(`${V3}/directory/room/${enc(alias)}`, { room_id: roomId }));
      await sendState(alice.api, roomId, 'm.room.canonical_alias', '', { alias, alt_aliases: [alias] });
      expect((await alice.api.put(room(roomId, 'state/m.room.canonical_alias/'), { alias, alt_aliases: [42] })).status).toBe(400);
    });
  });

  describe('redaction', () => {
    it('strips content, keeps the skeleton, and shows redacted_because everywhere', async () => {
      const since = (await sync(bob.api)).next_batch;
      const target = await sendMessage(bob.api, roomId, 'numéro perso: 06 12 34 56 78');
      const redaction = ok(await bob.api.put(room(roomId, `redact/${enc(target)}/${txn()}`), { reason: 'données personnelles' })).event_id;
      expect(redaction).toMatch(/^\$/);

      const seen = await getEvent(alice, roomId, target);
      expect(seen.content).toEqual({});
      expect(seen.type).toBe('m.room.message');
      expect(seen.unsigned?.redacted_because).toMatchObject({ event_id: redaction, type: 'm.room.redaction', sender: bob.userId, content: { reason: 'données personnelles' } });

      const messages = ok(await alice.api.get(room(roomId, 'messages?dir=b&limit=5'))).chunk as Ev[];
      const inMessages = messages.find((e) => e.event_id === target)!;
      expect(inMessages.content).toEqual({});
      expect(inMessages.unsigned?.redacted_because?.event_id).toBe(redaction);
      const r = messages.find((e) => e.event_id === redaction)!;
      expect(r.redacts ?? r.content.redacts).toBe(target);

      const s = await sync(bob.api, { since });
      const events = s.rooms.join[roomId].timeline.events as Ev[];
      const inSync = events.find((e) => e.event_id === target);
      expect(inSync?.content).toEqual({});
      expect(inSync?.unsigned?.redacted_because?.event_id).toBe(redaction);
      expect(events.some((e) => e.event_id === redaction)).toBe(true);

      const ctx = ok(await alice.api.get(room(roomId, `context/${enc(target)}`)));
      expect(ctx.event.content).toEqual({});
    });

    it('keeps what the redaction algorithm keeps for state events', async () => {
      const jr = await sendState(alice.api, roomId, 'm.room.join_rules', '', { join_rule: 'public', extra: 'goes' });
      ok(await alice.api.put(room(roomId, `redact/${enc(jr)}/${txn()}`), {}));
      expect((await getEvent(alice, roomId, jr)).content).toEqual({ join_rule: 'public' });
      // The room still works.
      expect(ok(await bob.api.get(room(roomId, 'state/m.room.join_rules/'))).join_rule).toBe('public');
    });

    it('needs the redact level for other people’s events, and is idempotent per txn', async () => {
      await join(carol.api, roomId);
      const aliceMsg = await sendMessage(alice.api, roomId, 'from alice');
      expectError(await carol.api.put(room(roomId, `redact/${enc(aliceMsg)}/${txn()}`), {}), 403, 'M_FORBIDDEN');
      expect((await getEvent(bob, roomId, aliceMsg)).content.body).toBe('from alice');
      const carolMsg = await sendMessage(carol.api, roomId, 'from carol');
      const id = txn();
      const r1 = ok(await alice.api.put(room(roomId, `redact/${enc(carolMsg)}/${id}`), { reason: 'modération' })).event_id;
      const r2 = ok(await alice.api.put(room(roomId, `redact/${enc(carolMsg)}/${id}`), { reason: 'modération' })).event_id;
      expect(r2).toBe(r1);
      expect((await getEvent(bob, roomId, carolMsg)).content).toEqual({});
      ok(await carol.api.post(room(roomId, 'leave'), {}));
    });

    it('validates the body', async () => {
      const msg = await sendMessage(alice.api, roomId, 'x');
      expectError(await alice.api.put(room(roomId, `redact/${enc(msg)}/${txn()}`), { reason: 5 }), 400, 'M_BAD_JSON');
      expectError(await carol.api.put(room(roomId, `redact/${enc(msg)}/${txn()}`), {}), 403, 'M_FORBIDDEN');
    });
  });

  describe('reading', () => {
    let quiet: string;
    let ids: string[];
    beforeAll(async () => {
      quiet = await createRoom(alice.api, { preset: 'public_chat' });
      await join(bob.api, quiet);
      ids = [];
      for (let i = 0; i < 12; i++) ids.push(await sendMessage(i % 2 ? bob.api : alice.api, quiet, `m${i}`));
    });

    it('GET /event: the event, or 404 for unknown events, other rooms’ events, and rooms one is not in', async () => {
      const e = await getEvent(bob, quiet, ids[3]!);
      expect(e).toMatchObject({ event_id: ids[3], type: 'm.room.message', sender: bob.userId, content: { msgtype: 'm.text', body: 'm3' } });
      expect(typeof e.unsigned?.age).toBe('number');
      expectError(await bob.api.get(room(quiet, `event/${enc('$nope')}`)), 404, 'M_NOT_FOUND');
      // An event of another room, asked through this one.
      const other = await sendMessage(alice.api, roomId, 'elsewhere');
      expectError(await bob.api.get(room(quiet, `event/${enc(other)}`)), 404, 'M_NOT_FOUND');
      // Spec: 404 also when the user may not read it.
      expectError(await carol.api.get(room(quiet, `event/${enc(ids[3]!)}`)), 404, 'M_NOT_FOUND');
      expectError(await carol.api.get(room('!nope:localhost', `event/${enc(ids[3]!)}`)), 404, 'M_NOT_FOUND');
    });

    it('/messages pages backwards and forwards without gaps or repeats', async () => {
      const seen: string[] = [];
      let from: string | undefined;
      for (let page = 0; page < 20; page++) {
        const res: any = ok(await bob.api.get(room(quiet, `messages?dir=b&limit=5${from ? `&from=${enc(from)}` : ''}`)));
        seen.push(...(res.chunk as Ev[]).map((e) => e.event_id));
        if (!res.end) break;
        from = res.end;
      }
      expect(seen.filter((id) => ids.includes(id))).toEqual([...ids].reverse());
      expect(new Set(seen).size).toBe(seen.length);
      // From the start, forwards.
      const forward: string[] = [];
      from = undefined;
      for (let page = 0; page < 20; page++) {
        const res: any = ok(await bob.api.get(room(quiet, `messages?dir=f&limit=4${from ? `&from=${enc(from)}` : ''}`)));
        forward.push(...(res.chunk as Ev[]).map((e) => e.event_id));
        if (!res.end) break;
        from = res.end;
      }
      expect(forward.filter((id) => ids.includes(id))).toEqual(ids);
      expect(forward[0]).toBe(seen.at(-1));
      // `to` bounds a page.
      const first = ok(await bob.api.get(room(quiet, 'messages?dir=b&limit=3')));
      const bounded = ok(await bob.api.get(room(quiet, `messages?dir=b&limit=50&to=${enc(first.end)}`)));
      expect((bounded.chunk as Ev[]).map((e) => e.event_id)).toEqual((first.chunk as Ev[]).map((e) => e.event_id));
    });

    it('/messages filters by type and sender, and lazy-loads the senders’ member events', async () => {
      const onlyBob = ok(await alice.api.get(room(quiet, `messages?dir=b&limit=20&filter=${enc(JSON.stringify({ senders: [bob.userId], types: ['m.room.message'] }))}`)));
      expect((onlyBob.chunk as Ev[]).map((e) => e.content.body)).toEqual(['m11', 'm9', 'm7', 'm5', 'm3', 'm1']);
      const notMessages = ok(await alice.api.get(room(quiet, `messages?dir=b&limit=50&filter=${enc(JSON.stringify({ not_types: ['m.room.message'] }))}`)));
      expect((notMessages.chunk as Ev[]).every((e) => e.type !== 'm.room.message')).toBe(true);
      const wildcard = ok(await alice.api.get(room(quiet, `messages?dir=b&limit=50&filter=${enc(JSON.stringify({ types: ['m.room.*'] }))}`)));
      expect((wildcard.chunk as Ev[]).length).toBeGreaterThan(12);
      const lazy = ok(await alice.api.get(room(quiet, `messages?dir=b&limit=2&filter=${enc(JSON.stringify({ lazy_load_members: true }))}`)));
      const members = (lazy.state as Ev[]).map((e) => e.state_key).sort();
      expect(members).toEqual([alice.userId, bob.userId].sort());
      expect((lazy.state as Ev[]).every((e) => e.type === 'm.room.member')).toBe(true);
    });

    it('/messages validates its parameters', async () => {
      expectError(await bob.api.get(room(quiet, 'messages?dir=x')), 400, 'M_INVALID_PARAM');
      expectError(await bob.api.get(room(quiet, 'messages?limit=-1')), 400, 'M_INVALID_PARAM');
      expectError(await bob.api.get(room(quiet, 'messages?from=garbage')), 400, 'M_INVALID_PARAM');
      expectError(await bob.api.get(room(quiet, `messages?filter=${enc('{')}`)), 400, 'M_NOT_JSON');
      expectError(await bob.api.get(room(quiet, `messages?filter=${enc('{"types":"m.room.message"}')}`)), 400, 'M_BAD_JSON');
      expectError(await carol.api.get(room(quiet, 'messages')), 403, 'M_FORBIDDEN');
      expectError(await carol.api.get(room('!nope:localhost', 'messages')), 403, 'M_FORBIDDEN');
      // limit=0 is an empty page, not an error.
      expect(ok(await bob.api.get(room(quiet, 'messages?dir=b&limit=0'))).chunk).toEqual([]);
    });

    it('/context returns the event with events around it, and tokens that continue with /messages', async () => {
      const ctx = ok(await bob.api.get(room(quiet, `context/${enc(ids[6]!)}?limit=4`)));
      expect(ctx.event.event_id).toBe(ids[6]);
      expect((ctx.events_before as Ev[]).map((e) => e.event_id)).toEqual([ids[5], ids[4]]);
      expect((ctx.events_after as Ev[]).map((e) => e.event_id)).toEqual([ids[7], ids[8]]);
      expect((ctx.state as Ev[]).some((e) => e.type === 'm.room.create')).toBe(true);
      const back = ok(await bob.api.get(room(quiet, `messages?dir=b&limit=2&from=${enc(ctx.start)}`)));
      expect((back.chunk as Ev[]).map((e) => e.event_id)).toEqual([ids[3], ids[2]]);
      const fwd = ok(await bob.api.get(room(quiet, `messages?dir=f&limit=2&from=${enc(ctx.end)}`)));
      expect((fwd.chunk as Ev[]).map((e) => e.event_id)).toEqual([ids[9], ids[10]]);
      // limit=0 still returns the event.
      const zero = ok(await bob.api.get(room(quiet, `context/${enc(ids[6]!)}?limit=0`)));
      expect(zero.event.event_id).toBe(ids[6]);
      expect(zero.events_before).toEqual([]);
      const lazy = ok(await bob.api.get(room(quiet, `context/${enc(ids[6]!)}?limit=2&filter=${enc(JSON.stringify({ lazy_load_members: true }))}`)));
      expect((lazy.state as Ev[]).filter((e) => e.type === 'm.room.member').map((e) => e.state_key).sort()).toEqual([alice.userId, bob.userId].sort());
      expectError(await bob.api.get(room(quiet, `context/${enc('$nope')}`)), 404, 'M_NOT_FOUND');
      expectError(await bob.api.get(room(quiet, `context/${enc(ids[6]!)}?limit=x`)), 400, 'M_INVALID_PARAM');
      const outsider = await carol.api.get(room(quiet, `context/${enc(ids[6]!)}`));
      expect([403, 404]).toContain(outsider.status);
    });
  });
});
