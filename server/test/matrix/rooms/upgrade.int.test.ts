// Room upgrades: a replacement room with the old one's state, the tombstone, aliases moved.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roomUpgradeRoutes } from '../../../src/matrix/rooms/upgrade-routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, expectError, join, ok, registerSpecUser, sendMessage, sendState, txn, type SpecUser } from '../../support/spec-client.ts';

describe('room upgrades', () => {
  let server: TestServer;
  const log = new CallLog();
  let ana: SpecUser;
  let ben: SpecUser;
  let eve: SpecUser;

  beforeAll(async () => {
    server = await startTestServer();
    ana = await registerSpecUser(server.url, log);
    ben = await registerSpecUser(server.url, log);
    eve = await registerSpecUser(server.url, log);
  });

  afterAll(async () => {
    log.expectRoutesCovered(roomUpgradeRoutes(server.services));
    await closeAllTestServers();
  });

  const upgrade = (user: SpecUser, roomId: string, body: unknown) => user.api.call('POST', `${V3}/rooms/${enc(roomId)}/upgrade`, { body });
  const state = async (user: SpecUser, roomId: string, type: string) => ok(await user.api.get(`${V3}/rooms/${enc(roomId)}/state/${type}/`));

  it('offers the versions /capabilities lists, and refuses others', async () => {
    const caps = ok(await ana.api.get(`${V3}/capabilities`)).capabilities['m.room_versions'];
    expect(Object.keys(caps.available).sort()).toEqual(['10', '11']);
    const roomId = await createRoom(ana.api, {});
    for (const v of ['9', '12', '', 'eleven']) expectError(await upgrade(ana, roomId, { new_version: v }), 400, 'M_UNSUPPORTED_ROOM_VERSION');
    for (const body of [{}, { new_version: 11 }, { new_version: '1'.repeat(33) }, { new_version: '11', additional_creators: 'x' }, []]) {
      expectError(await upgrade(ana, roomId, body), 400, ['M_BAD_JSON', 'M_NOT_JSON']);
    }
    // A room id that is none, a room that does not exist, another user's room.
    expectError(await ana.api.call('POST', `${V3}/rooms/${enc('nope')}/upgrade`, { body: { new_version: '11' } }), 400, 'M_INVALID_PARAM');
    expectError(await upgrade(ana, '!unknown:localhost', { new_version: '11' }), 403, 'M_FORBIDDEN');
    expectError(await upgrade(eve, roomId, { new_version: '11' }), 403, 'M_FORBIDDEN');
    // Nothing happened to the room on the way.
    expectError(await ana.api.get(`${V3}/rooms/${enc(roomId)}/state/m.room.tombstone/`), 404, 'M_NOT_FOUND');
  });

  it('replaces the room: predecessor, copied state, tombstone, aliases, silenced old room', async () => {
    const aliasName = `cellule${process.pid}`;
    const alias = `#${aliasName}:${server.services.config.serverName}`;
    const roomId = await createRoom(ana.api, {
      preset: 'public_chat',
      visibility: 'public',
      room_version: '10',
      name: 'Cellule de crise',
      topic: 'Inondations',
      room_alias_name: aliasName,
      creation_content: { type: 'org.tocsin.crisis' },
      power_level_content_override: { users: { [ana.userId]: 100 }, events: { 'm.room.name': 50 } },
    });
    await join(ben.api, roomId);
    await sendState(ana.api, roomId, 'm.room.encryption', '', { algorithm: 'm.megolm.v1.aes-sha2' });
    const last = await sendMessage(ben.api, roomId, 'dernier message');
    // Ben has no power to send the tombstone.
    expectError(await upgrade(ben, roomId, { new_version: '11' }), 403, 'M_FORBIDDEN');

    const { replacement_room: newId } = ok(await upgrade(ana, roomId, { new_version: '11' }));
    expect(newId).not.toBe(roomId);
    const create = await state(ana, newId, 'm.room.create');
    expect(create).toMatchObject({ room_version: '11', type: 'org.tocsin.crisis', predecessor: { room_id: roomId, event_id: last } });
    expect(await state(ana, newId, 'm.room.name')).toEqual({ name: 'Cellule de crise' });
    expect((await state(ana, newId, 'm.room.topic')).topic).toBe('Inondations');
    expect(await state(ana, newId, 'm.room.encryption')).toEqual({ algorithm: 'm.megolm.v1.aes-sha2' });
    expect(await state(ana, newId, 'm.room.join_rules')).toEqual({ join_rule: 'public' });
    expect(await state(ana, newId, 'm.room.canonical_alias')).toEqual({ alias });
    const newPl = await state(ana, newId, 'm.room.power_levels');
    expect(newPl.users).toEqual({ [ana.userId]: 100 });
    expect(newPl.events['m.room.name']).toBe(50);
    // Members are not carried over: they follow the tombstone.
    const members = ok(await ana.api.get(`${V3}/rooms/${enc(newId)}/joined_members`)).joined;
    expect(Object.keys(members)).toEqual([ana.userId]);

    expect(await state(ben, roomId, 'm.room.tombstone')).toEqual({ body: 'This room has been replaced', replacement_room: newId });
    const oldPl = await state(ben, roomId, 'm.room.power_levels');
    expect(oldPl).toMatchObject({ events_default: 50, invite: 50 });
    expectError(await ben.api.put(`${V3}/rooms/${enc(roomId)}/send/m.room.message/${txn()}`, { msgtype: 'm.text', body: 'encore là ?' }), 403, 'M_FORBIDDEN');

    expect(ok(await eve.api.get(`${V3}/directory/room/${enc(alias)}`)).room_id).toBe(newId);
    expect(ok(await ana.api.get(`${V3}/rooms/${enc(newId)}/aliases`)).aliases).toEqual([alias]);
    const listed = ok(await eve.api.get(`${V3}/publicRooms?limit=100`)).chunk.map((r: { room_id: string }) => r.room_id);
    expect(listed).toContain(newId);
    expect(listed).not.toContain(roomId);

    // Ben follows the tombstone.
    await join(ben.api, newId);
  });

  it('lets a moderator with tombstone power upgrade, keeping their level in the new room', async () => {
    const roomId = await createRoom(ana.api, {
      invite: [ben.userId],
      power_level_content_override: { users: { [ana.userId]: 100, [ben.userId]: 50 }, events: { 'm.room.tombstone': 50, 'm.room.history_visibility': 100, 'm.room.power_levels': 100 } },
    });
    await join(ben.api, roomId);
    await sendState(ana.api, roomId, 'm.room.history_visibility', '', { history_visibility: 'joined' });
    const { replacement_room: newId } = ok(await upgrade(ben, roomId, { new_version: '10' }));
    // Ben could only copy history_visibility (level 100) by being raised for the set-up.
    expect(await state(ben, newId, 'm.room.history_visibility')).toEqual({ history_visibility: 'joined' });
    expect((await state(ben, newId, 'm.room.power_levels')).users).toEqual({ [ana.userId]: 100, [ben.userId]: 50 });
    expect((await state(ben, newId, 'm.room.create')).creator).toBe(ben.userId);
    expect((await state(ana, roomId, 'm.room.tombstone')).replacement_room).toBe(newId);
    // Ben may not change the old room's power levels (100): they stay as they were.
    expect((await state(ana, roomId, 'm.room.power_levels')).events_default).toBe(0);
  });
});
