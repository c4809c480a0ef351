// The room directory (published public rooms) and the user directory (every active account).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roomDirectoryRoutes } from '../../../src/matrix/directory/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, V3, createRoom, expectError, join, ok, registerSpecUser, sendState, type SpecUser } from '../../support/spec-client.ts';

describe('directory routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let anon: SpecApi;
  let ana: SpecUser;
  let ben: SpecUser;

  beforeAll(async () => {
    server = await startTestServer();
    anon = new SpecApi(server.url, undefined, log);
    ana = await registerSpecUser(server.url, log);
    ben = await registerSpecUser(server.url, log);
  });

  afterAll(async () => {
    log.expectRoutesCovered(roomDirectoryRoutes(server.services));
    await closeAllTestServers();
  });

  it('lists published rooms whose join rule is public, with their name, topic and members', async () => {
    const pub = await createRoom(ana.api, { visibility: 'public', preset: 'public_chat', name: 'Crue de la Seine', topic: 'Cellule de crise', room_alias_name: `crue${process.pid}` });
    await join(ben.api, pub);
    const unlisted = await createRoom(ana.api, { preset: 'public_chat', name: 'Not published' });
    const closed = await createRoom(ana.api, { visibility: 'public', preset: 'public_chat', name: 'Closed later' });
    await sendState(ana.api, closed, 'm.room.join_rules', '', { join_rule: 'invite' });

    const list = ok(await ben.api.get(`${V3}/publicRooms`));
    const ids = list.chunk.map((r: { room_id: string }) => r.room_id);
    expect(ids).toContain(pub);
    expect(ids).not.toContain(unlisted);
    expect(ids).not.toContain(closed);
    expect(list.chunk.find((r: { room_id: string }) => r.room_id === pub)).toEqual({
      room_id: pub, name: 'Crue de la Seine', topic: 'Cellule de crise', canonical_alias: `#crue${process.pid}:localhost`,
      num_joined_members: 2, world_readable: false, guest_can_join: false, join_rule: 'public',
    });
    const found = ok(await ben.api.post(`${V3}/publicRooms`, { filter: { generic_search_term: 'seine' } }));
    expect(found.chunk.map((r: { room_id: string }) => r.room_id)).toEqual([pub]);
    expect(ok(await ben.api.post(`${V3}/publicRooms`, { filter: { generic_search_term: 'nothing like it' } })).chunk).toEqual([]);
  });

  it('reads and sets a room’s visibility in the directory, members with the right power only', async () => {
    const room = await createRoom(ana.api, { preset: 'public_chat', name: 'Point presse' });
    const list = `${V3}/directory/list/room/${enc(room)}`;
    const listed = async () => ok(await ben.api.get(`${V3}/publicRooms`)).chunk.map((r: { room_id: string }) => r.room_id);
    expect(ok(await anon.get(list))).toEqual({ visibility: 'private' });
    expect(await listed()).not.toContain(room);

    ok(await ana.api.put(list, { visibility: 'public' }));
    expect(ok(await anon.get(list))).toEqual({ visibility: 'public' });
    expect(await listed()).toContain(room);

    // A member below the level that sets the room's address may not; nor may a stranger.
    expectError(await ben.api.put(list, { visibility: 'private' }), 403, 'M_FORBIDDEN');
    await join(ben.api, room);
    expectError(await ben.api.put(list, { visibility: 'private' }), 403, 'M_FORBIDDEN');
    await sendState(ana.api, room, 'm.room.power_levels', '', { users: { [ana.userId]: 100, [ben.userId]: 50 } });
    ok(await ben.api.put(list, { visibility: 'private' }));
    expect(ok(await anon.get(list))).toEqual({ visibility: 'private' });
    expect(await listed()).not.toContain(room);
    // No visibility means public, as the spec says.
    ok(await ana.api.put(list, {}));
    expect(ok(await anon.get(list))).toEqual({ visibility: 'public' });

    const unknown = `${V3}/directory/list/room/${enc('!nowhere:localhost')}`;
    expectError(await anon.get(unknown), 404, 'M_NOT_FOUND');
    expectError(await ana.api.put(unknown, { visibility: 'public' }), 404, 'M_NOT_FOUND');
    expectError(await ana.api.put(list, { visibility: 'everyone' }), 400, 'M_BAD_JSON');
    expectError(await anon.get(`${V3}/directory/list/room/not-a-room`), 400, 'M_INVALID_PARAM');
    expectError(await anon.put(list, { visibility: 'private' }), 401, 'M_MISSING_TOKEN');
  });

  it('pages with since/next_batch and refuses bad input', async () => {
    for (let i = 0; i < 3; i++) await createRoom(ana.api, { visibility: 'public', preset: 'public_chat', name: `page ${i}` });
    const first = ok(await ben.api.post(`${V3}/publicRooms`, { limit: 2 }));
    expect(first.chunk).toHaveLength(2);
    const second = ok(await ben.api.post(`${V3}/publicRooms`, { limit: 2, since: first.next_batch }));
    expect(second.prev_batch).toBeDefined();
    expect(second.chunk.map((r: { room_id: string }) => r.room_id)).not.toContain(first.chunk[0].room_id);
    expectError(await ben.api.get(`${V3}/publicRooms?since=${enc("' OR 1=1")}`), 400, 'M_INVALID_PARAM');
    expectError(await ben.api.get(`${V3}/publicRooms?limit=-3`), 400, 'M_INVALID_PARAM');
    expectError(await ben.api.get(`${V3}/publicRooms?server=matrix.org`), 400, 'M_INVALID_PARAM');
    expectError(await anon.get(`${V3}/publicRooms`), 401, 'M_MISSING_TOKEN');
  });

  it('finds users by name or ID, and not deactivated ones', async () => {
    ok(await ben.api.put(`${V3}/profile/${enc(ben.userId)}/displayname`, { displayname: 'Benoît Pompier' }));
    const res = ok(await ana.api.post(`${V3}/user_directory/search`, { search_term: 'pompier' }));
    expect(res).toEqual({ results: [{ user_id: ben.userId, display_name: 'Benoît Pompier' }], limited: false });
    const byId = ok(await ana.api.post(`${V3}/user_directory/search`, { search_term: ben.userId.slice(1, 8), limit: 1 }));
    expect(byId.results[0].user_id).toBeDefined();
    // LIKE wildcards are literal.
    expect(ok(await ana.api.post(`${V3}/user_directory/search`, { search_term: '%' })).results).toEqual([]);
    expect(ok(await ana.api.post(`${V3}/user_directory/search`, { search_term: '' })).results).toEqual([]);
    expectError(await ana.api.post(`${V3}/user_directory/search`, { search_term: 42 }), 400, 'M_BAD_JSON');
  });
});
