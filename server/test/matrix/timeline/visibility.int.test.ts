// History visibility on every read path (/messages, /event, /context, /state, /sync), for a
// user who is invited, joins later and leaves, and for one who never joined.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, expectError, invite, join, ok, registerSpecUser, sendMessage, sendState, sync, type SpecUser } from '../../support/spec-client.ts';

type Ev = { event_id: string; type: string; content: Record<string, any> };
type Visibility = 'shared' | 'invited' | 'joined' | 'world_readable';

interface Scenario {
  roomId: string;
  /** Message bodies → event ids: before the invite, while invited, while joined, after leaving. */
  ids: Record<'before' | 'invited' | 'joined' | 'after', string>;
  /** What bob saw in /sync while joined. */
  syncedWhileJoined: string[];
  /** What bob read with /messages while joined. */
  readWhileJoined: string[];
}

/** Which of the four messages bob may read once he has left. */
const VISIBLE_TO_LEAVER: Record<Visibility, Array<keyof Scenario['ids']>> = {
  shared: ['before', 'invited', 'joined'],
  invited: ['invited', 'joined'],
  joined: ['joined'],
  world_readable: ['before', 'invited', 'joined', 'after'],
};

describe('history visibility on every read path', () => {
  let server: TestServer;
  const log = new CallLog();
  let alice: SpecUser;
  let bob: SpecUser;
  let carol: SpecUser;
  const scenarios = new Map<Visibility, Scenario>();

  const room = (r: string, rest: string) => `${V3}/rooms/${enc(r)}/${rest}`;
  const bodies = (events: Ev[]) => events.filter((e) => e.type === 'm.room.message').map((e) => e.content.body as string);

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob, carol] = await Promise.all([registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log)]);
    for (const visibility of ['shared', 'invited', 'joined', 'world_readable'] as Visibility[]) {
      const roomId = await createRoom(alice.api, {
        preset: 'public_chat',
        name: `v-${visibility}`,
        initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: visibility } }],
      });
      const before = await sendMessage(alice.api, roomId, `${visibility}:before`);
      await invite(alice.api, roomId, bob.userId);
      const invited = await sendMessage(alice.api, roomId, `${visibility}:invited`);
      await join(bob.api, roomId);
      const joined = await sendMessage(alice.api, roomId, `${visibility}:joined`);
      const s = await sync(bob.api, { filter: { room: { rooms: [roomId], timeline: { limit: 50 } } } });
      const syncedWhileJoined = bodies(s.rooms.join[roomId].timeline.events);
      const readWhileJoined = bodies(ok(await bob.api.get(room(roomId, 'messages?dir=b&limit=50'))).chunk).reverse();
      ok(await bob.api.post(room(roomId, 'leave'), {}));
      const after = await sendMessage(alice.api, roomId, `${visibility}:after`);
      await sendState(alice.api, roomId, 'm.room.topic', '', { topic: 'set after bob left' });
      scenarios.set(visibility, { roomId, ids: { before, invited, joined, after }, syncedWhileJoined, readWhileJoined });
    }
  });

  afterAll(async () => {
    await closeAllTestServers();
  });

  describe.each(['shared', 'invited', 'joined', 'world_readable'] as Visibility[])('%s', (visibility) => {
    const expectedWhileJoined = (v: Visibility) => VISIBLE_TO_LEAVER[v].filter((k) => k !== 'after').map((k) => `${v}:${k}`);

    it('while joined, /sync and /messages show what the setting allows', () => {
      const s = scenarios.get(visibility)!;
      expect(s.syncedWhileJoined).toEqual(expectedWhileJoined(visibility));
      expect(s.readWhileJoined).toEqual(expectedWhileJoined(visibility));
    });

    it('after leaving, /messages stops at the leave (unless world readable)', async () => {
      const s = scenarios.get(visibility)!;
      const chunk = ok(await bob.api.get(room(s.roomId, 'messages?dir=b&limit=50'))).chunk as Ev[];
      expect(bodies(chunk).reverse()).toEqual(VISIBLE_TO_LEAVER[visibility].map((k) => `${visibility}:${k}`));
      // Forwards from the beginning too.
      const fwd = ok(await bob.api.get(room(s.roomId, 'messages?dir=f&limit=50'))).chunk as Ev[];
      expect(bodies(fwd)).toEqual(VISIBLE_TO_LEAVER[visibility].map((k) => `${visibility}:${k}`));
    });

    it('after leaving, /event answers 404 for what may not be seen', async () => {
      const s = scenarios.get(visibility)!;
      for (const [k, id] of Object.entries(s.ids) as Array<[keyof Scenario['ids'], string]>) {
        const res = await bob.api.get(room(s.roomId, `event/${enc(id)}`));
        if (VISIBLE_TO_LEAVER[visibility].includes(k)) expect(ok(res).content.body).toBe(`${visibility}:${k}`);
        else expectError(res, 404, 'M_NOT_FOUND');
      }
    });

    it('after leaving, /context hides what may not be seen around a visible event', async () => {
      const s = scenarios.get(visibility)!;
      const ctx = ok(await bob.api.get(room(s.roomId, `context/${enc(s.ids.joined)}?limit=20`)));
      const around = [...bodies(ctx.events_before).reverse(), ctx.event.content.body, ...bodies(ctx.events_after)];
      expect(around).toEqual(VISIBLE_TO_LEAVER[visibility].map((k) => `${visibility}:${k}`));
      if (!VISIBLE_TO_LEAVER[visibility].includes('before')) {
        const hidden = await bob.api.get(room(s.roomId, `context/${enc(s.ids.before)}`));
        expect([403, 404]).toContain(hidden.status);
      }
    });

    it('after leaving, /state is the state at the leave (unless world readable)', async () => {
      const s = scenarios.get(visibility)!;
      const st = ok(await bob.api.get(room(s.roomId, 'state'))) as Array<Ev & { state_key: string }>;
      const topic = st.find((e) => e.type === 'm.room.topic');
      const me = st.find((e) => e.type === 'm.room.member' && e.state_key === bob.userId);
      expect(me?.content.membership).toBe('leave');
      if (visibility === 'world_readable') expect(topic?.content.topic).toBe('set after bob left');
      else expect(topic).toBeUndefined();
      const single = await bob.api.get(room(s.roomId, 'state/m.room.topic/'));
      if (visibility === 'world_readable') expect(ok(single).topic).toBe('set after bob left');
      else expectError(single, 404, 'M_NOT_FOUND');
    });

    it('after leaving, /sync with include_leave stops at the leave', async () => {
      const s = scenarios.get(visibility)!;
      const res = await sync(bob.api, { filter: { room: { rooms: [s.roomId], include_leave: true, timeline: { limit: 50 } } } });
      const left = res.rooms.leave[s.roomId];
      expect(left).toBeDefined();
      const seen = bodies(left.timeline.events);
      expect(seen).not.toContain(`${visibility}:after`);
      for (const b of seen) expect(expectedWhileJoined(visibility)).toContain(b);
      expect(res.rooms.join[s.roomId]).toBeUndefined();
    });

    it('a user who never joined reads only a world readable room', async () => {
      const s = scenarios.get(visibility)!;
      const messages = await carol.api.get(room(s.roomId, 'messages?dir=b&limit=50'));
      const event = await carol.api.get(room(s.roomId, `event/${enc(s.ids.joined)}`));
      const state = await carol.api.get(room(s.roomId, 'state'));
      const context = await carol.api.get(room(s.roomId, `context/${enc(s.ids.joined)}`));
      if (visibility === 'world_readable') {
        expect(bodies(ok(messages).chunk).reverse()).toEqual(['before', 'invited', 'joined', 'after'].map((k) => `${visibility}:${k}`));
        expect(ok(event).content.body).toBe(`${visibility}:joined`);
        expect(ok(state).some((e: Ev) => e.type === 'm.room.topic')).toBe(true);
        expect(ok(context).event.event_id).toBe(s.ids.joined);
        expect(ok(await carol.api.get(room(s.roomId, 'members'))).chunk.length).toBeGreaterThan(0);
      } else {
        expectError(messages, 403, 'M_FORBIDDEN');
        expectError(event, 404, 'M_NOT_FOUND');
        expectError(state, 403, 'M_FORBIDDEN');
        expect([403, 404]).toContain(context.status);
        expectError(await carol.api.get(room(s.roomId, 'members')), 403, 'M_FORBIDDEN');
        expectError(await carol.api.get(room(s.roomId, 'state/m.room.name/')), 403, 'M_FORBIDDEN');
      }
      // Not joined: nothing in carol's sync either way.
      const cs = await sync(carol.api);
      expect(cs.rooms.join[s.roomId]).toBeUndefined();
    });
  });

  it('an invited user reads from the invite on with "invited", nothing before joining with "shared"', async () => {
    const dave = await registerSpecUser(server.url, log);
    const results: Record<string, string[]> = {};
    for (const visibility of ['invited', 'shared', 'joined'] as Visibility[]) {
      const roomId = await createRoom(alice.api, { initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: visibility } }] });
      await sendMessage(alice.api, roomId, 'before');
      await invite(alice.api, roomId, dave.userId);
      await sendMessage(alice.api, roomId, 'after invite');
      results[visibility] = bodies(ok(await dave.api.get(room(roomId, 'messages?dir=b&limit=50'))).chunk).reverse();
    }
    expect(results).toEqual({ invited: ['after invite'], shared: [], joined: [] });
  });

  it('a change of visibility applies from that point on', async () => {
    const roomId = await createRoom(alice.api, { preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'joined' } }] });
    await sendMessage(alice.api, roomId, 'secret');
    await sendState(alice.api, roomId, 'm.room.history_visibility', '', { history_visibility: 'shared' });
    await sendMessage(alice.api, roomId, 'shared from now');
    const eve = await registerSpecUser(server.url, log);
    await join(eve.api, roomId);
    await sendMessage(alice.api, roomId, 'welcome');
    expect(bodies(ok(await eve.api.get(room(roomId, 'messages?dir=b&limit=50'))).chunk).reverse()).toEqual(['shared from now', 'welcome']);
  });
});
