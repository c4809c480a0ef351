// Rooms: creation, membership (join, invite, leave, forget, kick, ban, unban) under the
// authorization rules, member lists and aliases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roomRoutes } from '../../../src/matrix/rooms/routes.ts';
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

describe('room routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let alice: SpecUser;
  let bob: SpecUser;
  let carol: SpecUser;
  let dave: SpecUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob, carol, dave] = await Promise.all([registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log)]);
  });

  afterAll(async () => {
    log.expectRoutesCovered(roomRoutes(server.services));
    await closeAllTestServers();
  });

  const room = (roomId: string, rest: string) => `${V3}/rooms/${enc(roomId)}/${rest}`;
  const state = async (user: SpecUser, roomId: string, type: string, key = '') => ok(await user.api.get(room(roomId, `state/${enc(type)}/${enc(key)}`)));
  const membershipOf = async (roomId: string, userId: string) => (await state(alice, roomId, 'm.room.member', userId)).membership as string;

  describe('createRoom', () => {
    it('creates a private room by default, with the creator at 100 and history shared', async () => {
      const roomId = await createRoom(alice.api, { name: 'Cellule', topic: 'Inondations' });
      expect(roomId).toMatch(/^![A-Za-z0-9_-]+:localhost$/);
      expect((await state(alice, roomId, 'm.room.create')).room_version).toBe('10');
      expect((await state(alice, roomId, 'm.room.create')).creator).toBe(alice.userId);
      expect((await state(alice, roomId, 'm.room.join_rules')).join_rule).toBe('invite');
      expect((await state(alice, roomId, 'm.room.history_visibility')).history_visibility).toBe('shared');
      expect((await state(alice, roomId, 'm.room.power_levels')).users).toEqual({ [alice.userId]: 100 });
      expect(await state(alice, roomId, 'm.room.name')).toEqual({ name: 'Cellule' });
      expect((await state(alice, roomId, 'm.room.topic')).topic).toBe('Inondations');
      expect(ok(await alice.api.get(`${V3}/joined_rooms`)).joined_rooms).toContain(roomId);
    });

    it('honours presets, room version 11, creation content, initial state and power level overrides', async () => {
      const pub = await createRoom(alice.api, { preset: 'public_chat', room_version: '11', creation_content: { 'm.federate': false } });
      const create = await state(alice, pub, 'm.room.create');
      expect(create).toMatchObject({ room_version: '11', 'm.federate': false });
      expect(create.creator).toBeUndefined();
      expect((await state(alice, pub, 'm.room.join_rules')).join_rule).toBe('public');

      const trusted = await createRoom(alice.api, {
        preset: 'trusted_private_chat',
        invite: [bob.userId],
        is_direct: true,
        initial_state: [
          { type: 'm.room.history_visibility', content: { history_visibility: 'joined' } },
          { type: 'org.tocsin.note', state_key: 'k', content: { v: 1 } },
        ],
        power_level_content_override: { events_default: 10 },
      });
      const pl = await state(alice, trusted, 'm.room.power_levels');
      expect(pl.users).toEqual({ [alice.userId]: 100, [bob.userId]: 100 });
      expect(pl.events_default).toBe(10);
      expect((await state(alice, trusted, 'm.room.history_visibility')).history_visibility).toBe('joined');
      expect(await state(alice, trusted, 'org.tocsin.note', 'k')).toEqual({ v: 1 });
      const inviteEvent = await state(alice, trusted, 'm.room.member', bob.userId);
      expect(inviteEvent).toMatchObject({ membership: 'invite', is_direct: true });
      // Bob sees the invite in sync, with stripped state naming the room's creator.
      const s = await sync(bob.api);
      const invited = s.rooms.invite[trusted];
      expect(invited.invite_state.events.some((e: { type: string }) => e.type === 'm.room.create')).toBe(true);
      expect(invited.invite_state.events.some((e: { type: string; state_key: string; sender: string }) => e.type === 'm.room.member' && e.state_key === bob.userId && e.sender === alice.userId)).toBe(true);
    });

    it('refuses bad requests with the spec codes', async () => {
      expectError(await alice.api.post(`${V3}/createRoom`, { room_version: '1' }), 400, 'M_UNSUPPORTED_ROOM_VERSION');
      expectError(await alice.api.post(`${V3}/createRoom`, { room_version: '12345' }), 400, 'M_UNSUPPORTED_ROOM_VERSION');
      expectError(await alice.api.post(`${V3}/createRoom`, { preset: 'anarchy' }), 400, 'M_BAD_JSON');
      expectError(await alice.api.post(`${V3}/createRoom`, { invite: ['not-a-user'] }), 400, 'M_INVALID_PARAM');
      expectError(await alice.api.post(`${V3}/createRoom`, { room_alias_name: 'has:colon' }), 400, 'M_INVALID_PARAM');
      expectError(await alice.api.post(`${V3}/createRoom`, { room_alias_name: 'has space' }), 400, 'M_INVALID_PARAM');
      expectError(await alice.api.post(`${V3}/createRoom`, { initial_state: [{ type: 'm.room.create', content: {} }] }), 400, ['M_INVALID_PARAM', 'M_INVALID_ROOM_STATE', 'M_BAD_JSON']);
      // An initial state the creator could not have set (the spec's own example).
      expectError(await alice.api.post(`${V3}/createRoom`, { name: 'x', power_level_content_override: { users: { [alice.userId]: 0 } } }), 400, 'M_INVALID_ROOM_STATE');
      expectError(await alice.api.post(`${V3}/createRoom`, { power_level_content_override: { ban: 'fifty' } }), 400, 'M_INVALID_ROOM_STATE');
      const unknownInvitee = await alice.api.post(`${V3}/createRoom`, { invite: ['@ghost:localhost'] });
      expect([400, 404]).toContain(unknownInvitee.status);
      // Nothing half-made stays behind.
      const before = ok(await alice.api.get(`${V3}/joined_rooms`)).joined_rooms.length;
      await alice.api.post(`${V3}/createRoom`, { power_level_content_override: { ban: 'fifty' } });
      expect(ok(await alice.api.get(`${V3}/joined_rooms`)).joined_rooms.length).toBe(before);
    });

    it('reserves the alias, and refuses one already taken', async () => {
      const alias = `crise-${process.pid}`;
      const res = ok(await alice.api.post(`${V3}/createRoom`, { room_alias_name: alias, preset: 'public_chat' }));
      expect(res.room_alias).toBe(`#${alias}:localhost`);
      expect((await state(alice, res.room_id, 'm.room.canonical_alias')).alias).toBe(`#${alias}:localhost`);
      expectError(await bob.api.post(`${V3}/createRoom`, { room_alias_name: alias }), 400, 'M_ROOM_IN_USE');
      expect(ok(await bob.api.get(`${V3}/directory/room/${enc(`#${alias}:localhost`)}`))).toEqual({ room_id: res.room_id, servers: ['localhost'] });
    });
  });

  describe('join rules', () => {
    it('public rooms let anyone join, by id or by alias; invite-only rooms need an invite', async () => {
      const alias = `hall-${process.pid}`;
      const pub = ok(await alice.api.post(`${V3}/createRoom`, { preset: 'public_chat', room_alias_name: alias })).room_id;
      expect(ok(await bob.api.post(`${V3}/join/${enc(`#${alias}:localhost`)}`, {})).room_id).toBe(pub);
      expect(ok(await carol.api.post(`${V3}/join/${enc(pub)}`, { reason: 'astreinte' })).room_id).toBe(pub);
      expect((await state(alice, pub, 'm.room.member', carol.userId)).reason).toBe('astreinte');

      const priv = await createRoom(alice.api, { preset: 'private_chat' });
      expectError(await bob.api.post(room(priv, 'join'), {}), 403, 'M_FORBIDDEN');
      expectError(await bob.api.post(`${V3}/join/${enc(priv)}`, {}), 403, 'M_FORBIDDEN');
      await invite(alice.api, priv, bob.userId);
      expect(await membershipOf(priv, bob.userId)).toBe('invite');
      // Inviting again is a no-op, not an error.
      ok(await alice.api.post(room(priv, 'invite'), { user_id: bob.userId }));
      await join(bob.api, priv);
      expect(await membershipOf(priv, bob.userId)).toBe('join');
      // Opening the room lets the others in.
      await sendState(alice.api, priv, 'm.room.join_rules', '', { join_rule: 'public' });
      await join(carol.api, priv);
    });

    it('an invite can be rejected, and the rejecter cannot then join an invite-only room', async () => {
      const priv = await createRoom(alice.api);
      await invite(alice.api, priv, dave.userId);
      ok(await dave.api.post(room(priv, 'leave'), { reason: 'non merci' }));
      expect(await membershipOf(priv, dave.userId)).toBe('leave');
      expectError(await dave.api.post(room(priv, 'join'), {}), 403, 'M_FORBIDDEN');
    });

    it('answers unknown rooms and aliases', async () => {
      for (const path of [`${V3}/join/${enc('!nope:localhost')}`, room('!nope:localhost', 'join')]) {
        const res = await bob.api.post(path, {});
        expect([403, 404], JSON.stringify(res.body)).toContain(res.status);
      }
      expectError(await bob.api.post(`${V3}/join/${enc('#nope:localhost')}`, {}), 404, 'M_NOT_FOUND');
      for (const bad of ['nope', '!nope', '#nope', '@bob:localhost', "!x' OR '1'='1:localhost"]) {
        const res = await bob.api.post(`${V3}/join/${enc(bad)}`, {});
        expect([400, 403, 404], JSON.stringify(res.body)).toContain(res.status);
      }
    });
  });

  describe('power levels, kicks and bans', () => {
    let roomId: string;
    beforeAll(async () => {
      roomId = await createRoom(alice.api, { preset: 'public_chat' });
      for (const u of [bob, carol, dave]) await join(u.api, roomId);
      const pl = await state(alice, roomId, 'm.room.power_levels');
      await sendState(alice.api, roomId, 'm.room.power_levels', '', { ...pl, users: { ...pl.users, [bob.userId]: 50, [dave.userId]: 50 } });
    });

    it('needs the level of an event type to send it', async () => {
      expectError(await carol.api.put(room(roomId, 'state/m.room.name/'), { name: 'carol was here' }), 403, 'M_FORBIDDEN');
      await sendState(bob.api, roomId, 'm.room.name', '', { name: 'bob names it' });
      const pl = await state(alice, roomId, 'm.room.power_levels');
      expectError(await carol.api.put(room(roomId, 'state/m.room.power_levels/'), { ...pl, users: { ...pl.users, [carol.userId]: 100 } }), 403, 'M_FORBIDDEN');
      // Bob (50) may neither raise himself above 50 nor lower Alice (100).
      expectError(await bob.api.put(room(roomId, 'state/m.room.power_levels/'), { ...pl, users: { ...pl.users, [bob.userId]: 100 } }), 403, 'M_FORBIDDEN');
      expectError(await bob.api.put(room(roomId, 'state/m.room.power_levels/'), { ...pl, users: { ...pl.users, [alice.userId]: 0 } }), 403, 'M_FORBIDDEN');
      // History visibility is 100 in this server's default power levels.
      expectError(await bob.api.put(room(roomId, 'state/m.room.history_visibility/'), { history_visibility: 'joined' }), 403, 'M_FORBIDDEN');
      // Other state needs state_default (50); a state key naming another user belongs to that user.
      expectError(await carol.api.put(room(roomId, `state/org.tocsin.pref/${enc(carol.userId)}`), { v: 1 }), 403, 'M_FORBIDDEN');
      expectError(await bob.api.put(room(roomId, `state/org.tocsin.pref/${enc(dave.userId)}`), { v: 1 }), 403, 'M_FORBIDDEN');
      ok(await bob.api.put(room(roomId, `state/org.tocsin.pref/${enc(bob.userId)}`), { v: 1 }));
      // Messages need events_default (0).
      await sendMessage(carol.api, roomId, 'carol talks');
    });

    it('refuses to kick or ban someone of equal or higher power, or without the power', async () => {
      for (const action of ['kick', 'ban']) {
        expectError(await bob.api.post(room(roomId, action), { user_id: alice.userId }), 403, 'M_FORBIDDEN');
        expectError(await bob.api.post(room(roomId, action), { user_id: dave.userId }), 403, 'M_FORBIDDEN');
        expectError(await carol.api.post(room(roomId, action), { user_id: bob.userId }), 403, 'M_FORBIDDEN');
      }
      expect(await membershipOf(roomId, alice.userId)).toBe('join');
      expect(await membershipOf(roomId, dave.userId)).toBe('join');
      expect(await membershipOf(roomId, bob.userId)).toBe('join');
    });

    it('kicks: the kicked user may come back to a public room', async () => {
      ok(await bob.api.post(room(roomId, 'kick'), { user_id: carol.userId, reason: 'hors sujet' }));
      const member = await state(alice, roomId, 'm.room.member', carol.userId);
      expect(member).toMatchObject({ membership: 'leave', reason: 'hors sujet' });
      expectError(await carol.api.put(room(roomId, 'send/m.room.message/k1'), { msgtype: 'm.text', body: 'still here?' }), 403, 'M_FORBIDDEN');
      // Kicking someone who is not in the room is refused.
      expectError(await bob.api.post(room(roomId, 'kick'), { user_id: carol.userId }), 403, 'M_FORBIDDEN');
      await join(carol.api, roomId);
    });

    it('bans: the banned user can neither join nor be invited until unbanned', async () => {
      ok(await bob.api.post(room(roomId, 'ban'), { user_id: carol.userId, reason: 'spam' }));
      expect(await membershipOf(roomId, carol.userId)).toBe('ban');
      expectError(await carol.api.post(room(roomId, 'join'), {}), 403, 'M_FORBIDDEN');
      expectError(await alice.api.post(room(roomId, 'invite'), { user_id: carol.userId }), 403, 'M_FORBIDDEN');
      expectError(await carol.api.post(room(roomId, 'leave'), {}), 403, 'M_FORBIDDEN');
      // A non-member can be banned ahead of time.
      const eve = await registerSpecUser(server.url, log);
      ok(await alice.api.post(room(roomId, 'ban'), { user_id: eve.userId }));
      expectError(await eve.api.post(room(roomId, 'join'), {}), 403, 'M_FORBIDDEN');
      // Unbanning needs the ban level; it leaves the user out, free to join again.
      expectError(await carol.api.post(room(roomId, 'unban'), { user_id: carol.userId }), 403, 'M_FORBIDDEN');
      ok(await bob.api.post(room(roomId, 'unban'), { user_id: carol.userId }));
      expect(await membershipOf(roomId, carol.userId)).toBe('leave');
      expectError(await bob.api.post(room(roomId, 'unban'), { user_id: carol.userId }), 403, 'M_FORBIDDEN');
      await join(carol.api, roomId);
    });

    it('invites need a joined inviter with the invite level', async () => {
      const priv = await createRoom(alice.api, { power_level_content_override: { invite: 50 } });
      await invite(alice.api, priv, carol.userId);
      await join(carol.api, priv);
      expectError(await carol.api.post(room(priv, 'invite'), { user_id: dave.userId }), 403, 'M_FORBIDDEN');
      expectError(await bob.api.post(room(priv, 'invite'), { user_id: dave.userId }), 403, 'M_FORBIDDEN');
      expectError(await alice.api.post(room(priv, 'invite'), { user_id: carol.userId }), 403, 'M_FORBIDDEN');
      const ghost = await alice.api.post(room(priv, 'invite'), { user_id: '@ghost:localhost' });
      expect([400, 403, 404]).toContain(ghost.status);
      expectError(await alice.api.post(room(priv, 'invite'), { user_id: 'ghost' }), 400, ['M_INVALID_PARAM', 'M_BAD_JSON']);
      expectError(await alice.api.post(room(priv, 'invite'), {}), 400, 'M_BAD_JSON');
    });

    it('acting in a room one is not in, or that does not exist, is forbidden', async () => {
      const priv = await createRoom(alice.api);
      await invite(alice.api, priv, carol.userId);
      // Not even re-inviting someone already invited.
      expectError(await dave.api.post(room(priv, 'invite'), { user_id: carol.userId }), 403, 'M_FORBIDDEN');
      for (const target of [priv, '!nope:localhost']) {
        for (const action of ['invite', 'kick', 'ban', 'unban']) {
          expectError(await dave.api.post(room(target, action), { user_id: alice.userId }), 403, 'M_FORBIDDEN');
        }
        expectError(await dave.api.put(room(target, 'send/m.room.message/x'), { msgtype: 'm.text', body: 'x' }), 403, 'M_FORBIDDEN');
        expectError(await dave.api.put(room(target, 'state/m.room.topic/'), { topic: 'x' }), 403, 'M_FORBIDDEN');
        expectError(await dave.api.get(room(target, 'members')), 403, 'M_FORBIDDEN');
        expectError(await dave.api.get(room(target, 'joined_members')), 403, 'M_FORBIDDEN');
        expectError(await dave.api.get(room(target, 'aliases')), 403, 'M_FORBIDDEN');
      }
    });
  });

  describe('leave and forget', () => {
    it('leaves, leaves again harmlessly, forgets, and the room drops out of sync', async () => {
      const roomId = await createRoom(alice.api, { preset: 'public_chat' });
      await join(dave.api, roomId);
      expectError(await dave.api.post(room(roomId, 'forget'), {}), 400, 'M_UNKNOWN');
      ok(await dave.api.post(room(roomId, 'leave'), {}));
      ok(await dave.api.post(room(roomId, 'leave'), {}));
      expect(ok(await dave.api.get(`${V3}/joined_rooms`)).joined_rooms).not.toContain(roomId);
      const withLeave = await sync(dave.api, { filter: { room: { include_leave: true } } });
      expect(Object.keys(withLeave.rooms.leave)).toContain(roomId);
      ok(await dave.api.post(room(roomId, 'forget'), {}));
      const after = await sync(dave.api, { filter: { room: { include_leave: true } } });
      expect(Object.keys(after.rooms.leave)).not.toContain(roomId);
      // Never joined: nothing to leave or forget.
      const other = await createRoom(alice.api);
      for (const action of ['leave', 'forget']) {
        const res = await dave.api.post(room(other, action), {});
        expect([403, 404], JSON.stringify(res.body)).toContain(res.status);
        const unknown = await dave.api.post(room('!nope:localhost', action), {});
        expect([403, 404], JSON.stringify(unknown.body)).toContain(unknown.status);
      }
    });
  });

  describe('members', () => {
    it('lists members with membership filters and at a past point', async () => {
      const roomId = await createRoom(alice.api, { preset: 'public_chat' });
      await join(bob.api, roomId);
      await invite(alice.api, roomId, carol.userId);
      const before = (await sync(alice.api)).next_batch;
      await join(dave.api, roomId);
      ok(await dave.api.post(room(roomId, 'leave'), {}));

      const all = ok(await bob.api.get(room(roomId, 'members'))).chunk as Array<{ state_key: string; content: { membership: string } }>;
      const byUser = Object.fromEntries(all.map((e) => [e.state_key, e.content.membership]));
      expect(byUser).toEqual({ [alice.userId]: 'join', [bob.userId]: 'join', [carol.userId]: 'invite', [dave.userId]: 'leave' });
      const joined = ok(await bob.api.get(room(roomId, 'members?membership=join'))).chunk.map((e: { state_key: string }) => e.state_key);
      expect(joined.sort()).toEqual([alice.userId, bob.userId].sort());
      const notLeft = ok(await bob.api.get(room(roomId, 'members?not_membership=leave'))).chunk.map((e: { state_key: string }) => e.state_key);
      expect(notLeft.sort()).toEqual([alice.userId, bob.userId, carol.userId].sort());
      const past = ok(await bob.api.get(room(roomId, `members?at=${enc(before)}`))).chunk.map((e: { state_key: string }) => e.state_key);
      expect(past).not.toContain(dave.userId);

      const jm = ok(await bob.api.get(room(roomId, 'joined_members'))).joined;
      expect(Object.keys(jm).sort()).toEqual([alice.userId, bob.userId].sort());
      expect(jm[alice.userId].display_name).toBe(alice.userId.slice(1).split(':')[0]);
      // An invited user may not read joined_members.
      expectError(await carol.api.get(room(roomId, 'joined_members')), 403, 'M_FORBIDDEN');
      expectError(await bob.api.get(room(roomId, 'members?at=garbage')), 400, 'M_INVALID_PARAM');
    });
  });

  describe('aliases', () => {
    it('maps, resolves, lists and unmaps aliases', async () => {
      const roomId = await createRoom(alice.api, { preset: 'public_chat' });
      const alias = `#pc-${process.pid}:localhost`;
      ok(await alice.api.put(`${V3}/directory/room/${enc(alias)}`, { room_id: roomId }));
      expect(ok(await bob.api.get(`${V3}/directory/room/${enc(alias)}`)).room_id).toBe(roomId);
      expect(ok(await alice.api.get(room(roomId, 'aliases'))).aliases).toEqual([alias]);
      expectError(await alice.api.put(`${V3}/directory/room/${enc(alias)}`, { room_id: roomId }), 409, 'M_UNKNOWN');
      expect(ok(await bob.api.post(`${V3}/join/${enc(alias)}`, {})).room_id).toBe(roomId);
      // Only the creator of the alias (or an admin) removes it.
      expectError(await bob.api.delete(`${V3}/directory/room/${enc(alias)}`), 403, 'M_FORBIDDEN');
      ok(await alice.api.delete(`${V3}/directory/room/${enc(alias)}`));
      expectError(await bob.api.get(`${V3}/directory/room/${enc(alias)}`), 404, 'M_NOT_FOUND');
      expectError(await alice.api.delete(`${V3}/directory/room/${enc(alias)}`), 404, 'M_NOT_FOUND');
      expect(ok(await alice.api.get(room(roomId, 'aliases'))).aliases).toEqual([]);
    });

    it('refuses invalid, foreign and unearned aliases', async () => {
      const roomId = await createRoom(alice.api);
      for (const bad of ['nohash:localhost', '#nocolon', '#has space:localhost', `#x'--:localhost`.replace(':', '')]) {
        expectError(await alice.api.put(`${V3}/directory/room/${enc(bad)}`, { room_id: roomId }), 400, 'M_INVALID_PARAM');
        expectError(await alice.api.get(`${V3}/directory/room/${enc(bad)}`), 400, 'M_INVALID_PARAM');
      }
      expectError(await alice.api.put(`${V3}/directory/room/${enc('#elsewhere:example.org')}`, { room_id: roomId }), 400, 'M_INVALID_PARAM');
      // Pointing an alias at a room one is not in.
      expectError(await bob.api.put(`${V3}/directory/room/${enc(`#steal-${process.pid}:localhost`)}`, { room_id: roomId }), 403, 'M_FORBIDDEN');
      expectError(await alice.api.put(`${V3}/directory/room/${enc(`#bad-${process.pid}:localhost`)}`, { room_id: 'not-a-room' }), 400, 'M_INVALID_PARAM');
      expectError(await alice.api.put(`${V3}/directory/room/${enc(`#bad-${process.pid}:localhost`)}`, {}), 400, 'M_BAD_JSON');
    });
  });

  it('lets members talk, and only members', async () => {
    const roomId = await createRoom(alice.api);
    await sendMessage(alice.api, roomId, 'hello');
    expectError(await bob.api.get(room(roomId, 'messages')), 403, 'M_FORBIDDEN');
    expectError(await bob.api.get(room(roomId, 'state')), 403, 'M_FORBIDDEN');
  });
});
