// Spaces: GET /_matrix/client/v1/rooms/{roomId}/hierarchy over local rooms (depth-first walk
// of m.space.child, max_depth, suggested_only, pagination, who may see which room), hostile
// input (loops, huge values, foreign and forged tokens, other people's rooms), and the
// room_type of spaces in /publicRooms and /sync. Every answer is checked against the spec's
// OpenAPI by SpecApi.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spaceRoutes } from '../../../src/matrix/spaces/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, expectError, invite, join, ok, registerSpecUser, sendState, sync, type SpecUser } from '../../support/spec-client.ts';

type Json = Record<string, any>;
const V1 = '/_matrix/client/v1';

describe('space hierarchy', () => {
  let server: TestServer;
  const log = new CallLog();
  let alice: SpecUser;
  let bob: SpecUser;
  let carol: SpecUser;
  let space: string;
  let general: string;
  let sub: string;
  let inner: string;
  let secret: string;
  let restricted: string;
  let via: string[];

  const hierarchy = (user: SpecUser, roomId: string, query = '') => user.api.get(`${V1}/rooms/${enc(roomId)}/hierarchy${query ? `?${query}` : ''}`);
  const ids = (page: Json) => (page.rooms as Json[]).map((r) => r.room_id as string);
  const link = (parent: string, child: string, content: Json) => sendState(alice.api, parent, 'm.space.child', child, content);

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob, carol] = await Promise.all([registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log)]);
    via = [server.services.config.serverName];
    const spaceBody = { preset: 'public_chat', creation_content: { type: 'm.space' }, power_level_content_override: { events_default: 100 } };
    space = await createRoom(alice.api, { ...spaceBody, name: 'Cellule de crise', topic: 'Tout le dispositif', visibility: 'public' });
    general = await createRoom(alice.api, { preset: 'public_chat', name: 'Général' });
    sub = await createRoom(alice.api, { ...spaceBody, name: 'Terrain' });
    inner = await createRoom(alice.api, { preset: 'public_chat', name: 'Équipe nord' });
    secret = await createRoom(alice.api, { preset: 'private_chat', name: 'Direction' });
    restricted = await createRoom(alice.api, {
      preset: 'private_chat',
      name: 'Membres de la cellule',
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
    });
    await link(space, general, { via, order: 'a', suggested: true });
    await link(space, sub, { via, order: 'b' });
    await link(space, secret, { via, order: 'c' });
    await link(space, restricted, { via, order: 'd' });
    await link(space, '!absent:elsewhere.example', { via: ['elsewhere.example'], order: 'e' });
    await link(space, general.replace('!', '!removed'), {}); // no via: not a child any more
    await link(sub, inner, { via });
    await link(sub, space, { via }); // a loop back to the top
    await join(bob.api, space);
  });

  afterAll(async () => {
    log.expectRoutesCovered(spaceRoutes(server.services));
    await closeAllTestServers();
  });

  it('walks the space depth-first and summarises each room', async () => {
    const page = ok(await hierarchy(alice, space));
    expect(ids(page)).toEqual([space, general, sub, inner, secret, restricted]);
    expect(page.next_batch).toBeUndefined();
    const top = page.rooms[0];
    expect(top).toMatchObject({ name: 'Cellule de crise', topic: 'Tout le dispositif', room_type: 'm.space', join_rule: 'public', num_joined_members: 2, world_readable: false, guest_can_join: false });
    // children_state: the valid links only (the one without via is gone), unknown rooms included.
    expect(top.children_state.map((c: Json) => c.state_key)).toEqual([general, sub, secret, restricted, '!absent:elsewhere.example']);
    expect(top.children_state[0]).toMatchObject({ type: 'm.space.child', sender: alice.userId, content: { via, order: 'a', suggested: true } });
    expect(typeof top.children_state[0].origin_server_ts).toBe('number');
    const generalEntry = page.rooms[1];
    expect(generalEntry).toMatchObject({ name: 'Général', join_rule: 'public', num_joined_members: 1, children_state: [] });
    expect(generalEntry.room_type).toBeUndefined();
    expect(page.rooms.find((r: Json) => r.room_id === sub).children_state.map((c: Json) => c.state_key).sort()).toEqual([inner, space].sort());
  });

  it('shows others only the rooms they may see or join', async () => {
    // Bob is in the space: the private room is hidden, the restricted one is allowed through it.
    expect(ids(ok(await hierarchy(bob, space)))).toEqual([space, general, sub, inner, restricted]);
    // Carol is in nothing: the space is public, the restricted room is not open to her.
    expect(ids(ok(await hierarchy(carol, space)))).toEqual([space, general, sub, inner]);
    // An invitation opens the room to the hierarchy.
    await invite(alice.api, secret, carol.userId);
    expect(ids(ok(await hierarchy(carol, space)))).toContain(secret);
  });

  it('refuses a root the requester may not see, and unknown rooms, alike', async () => {
    expectError(await hierarchy(bob, secret), 403, 'M_FORBIDDEN');
    expectError(await hierarchy(bob, `!nowhere:${server.services.config.serverName}`), 403, 'M_FORBIDDEN');
    expectError(await hierarchy(bob, 'not-a-room-id'), 400, 'M_INVALID_PARAM');
    // A world-readable private room may be looked at; a ban hides even a public room.
    const readable = await createRoom(alice.api, { preset: 'private_chat', initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } }] });
    expect(ids(ok(await hierarchy(carol, readable)))).toEqual([readable]);
    // A room one may knock on is shown, so that the knock can be offered.
    const knockable = await createRoom(alice.api, { preset: 'private_chat', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] });
    expect(ids(ok(await hierarchy(carol, knockable)))).toEqual([knockable]);
    const open = await createRoom(alice.api, { preset: 'public_chat' });
    expect(ids(ok(await hierarchy(carol, open)))).toEqual([open]);
    await join(carol.api, open);
    ok(await alice.api.post(`${V3}/rooms/${enc(open)}/ban`, { user_id: carol.userId, reason: 'test' }));
    expectError(await hierarchy(carol, open), 403, 'M_FORBIDDEN');
  });

  it('stops at max_depth and follows only suggested rooms when asked', async () => {
    expect(ids(ok(await hierarchy(alice, space, 'max_depth=0')))).toEqual([space]);
    expect(ids(ok(await hierarchy(alice, space, 'max_depth=1')))).toEqual([space, general, sub, secret, restricted]);
    expect(ids(ok(await hierarchy(alice, space, 'suggested_only=true')))).toEqual([space, general]);
    expect(ids(ok(await hierarchy(alice, space, 'suggested_only=false&max_depth=2')))).toEqual([space, general, sub, inner, secret, restricted]);
    // The walk may start anywhere: from the sub-space, the loop back to the top is followed once.
    expect(ids(ok(await hierarchy(alice, sub)))).toEqual([sub, inner, space, general, secret, restricted]);
  });

  it('paginates with an opaque token bound to its parameters', async () => {
    const all: string[] = [];
    let from: string | undefined;
    let pages = 0;
    do {
      const page = ok(await hierarchy(alice, space, `limit=2${from ? `&from=${enc(from)}` : ''}`));
      expect(page.rooms.length).toBeLessThanOrEqual(2);
      all.push(...ids(page));
      from = page.next_batch;
      pages++;
    } while (from !== undefined && pages < 10);
    expect(pages).toBe(3);
    expect(all).toEqual([space, general, sub, inner, secret, restricted]);

    const first = ok(await hierarchy(alice, space, 'limit=1&max_depth=3'));
    const token = first.next_batch as string;
    // The limit may change between pages; max_depth, suggested_only and the room may not.
    expect(ids(ok(await hierarchy(alice, space, `limit=50&max_depth=3&from=${enc(token)}`)))).toEqual([general, sub, inner, secret, restricted]);
    expectError(await hierarchy(alice, space, `max_depth=2&from=${enc(token)}`), 400, 'M_INVALID_PARAM');
    expectError(await hierarchy(alice, space, `max_depth=3&suggested_only=true&from=${enc(token)}`), 400, 'M_INVALID_PARAM');
    expectError(await hierarchy(alice, sub, `max_depth=3&from=${enc(token)}`), 400, 'M_INVALID_PARAM');
    // A token does not open a room: Carol replaying Alice's token still sees only her rooms.
    const carolsView = ok(await hierarchy(carol, space, `max_depth=3&from=${enc(token)}`));
    expect(ids(carolsView)).not.toContain(restricted);
  });

  it('refuses bad parameters and forged tokens with M_INVALID_PARAM', async () => {
    const forged = (v: unknown) => `h1_${Buffer.from(JSON.stringify(v)).toString('base64url')}`;
    const bad = [
      'limit=0', 'limit=-1', 'limit=abc', 'limit=1.5', 'limit=1e3', `limit=${'9'.repeat(65)}`,
      'max_depth=-1', 'max_depth=x', 'suggested_only=yes', 'suggested_only=1',
      'from=', 'from=garbage', 'from=h1_%25%25', `from=${enc('h1_' + 'A'.repeat(5000))}`,
      `from=${enc(forged([space, 20, false, -1]))}`, `from=${enc(forged([space, 20, false, 1e12]))}`,
      `from=${enc(forged([space, 20, false, 'x']))}`, `from=${enc(forged({ root: space }))}`, `from=${enc(forged(null))}`,
    ];
    for (const q of bad) expectError(await hierarchy(alice, space, q), 400, 'M_INVALID_PARAM');
    // A forged but well-formed token only skips rooms.
    expect(ids(ok(await hierarchy(alice, space, `from=${enc(forged([space, 20, false, 4]))}`)))).toEqual([secret, restricted]);
    expect(ok(await hierarchy(alice, space, `from=${enc(forged([space, 20, false, 999]))}`)).rooms).toEqual([]);
  });

  it('serves huge limits and depths at the server caps', async () => {
    const page = ok(await hierarchy(alice, space, 'limit=99999999999999999999&max_depth=999999999'));
    expect(ids(page)).toEqual([space, general, sub, inner, secret, restricted]);
    // A later page must be asked with the same (capped) depth.
    const first = ok(await hierarchy(alice, space, 'limit=1&max_depth=999999'));
    expect(ids(ok(await hierarchy(alice, space, `max_depth=50&from=${enc(first.next_batch)}`)))[0]).toBe(general);
  });

  it('ends on a ring of spaces and on a deep chain', async () => {
    const ring: string[] = [];
    for (let i = 0; i < 6; i++) ring.push(await createRoom(alice.api, { preset: 'public_chat', creation_content: { type: 'm.space' } }));
    for (let i = 0; i < ring.length; i++) {
      await link(ring[i]!, ring[(i + 1) % ring.length]!, { via });
      await link(ring[i]!, ring[(i + 3) % ring.length]!, { via }); // chords: many ways around
    }
    const page = ok(await hierarchy(bob, ring[0]!, 'max_depth=999'));
    expect(ids(page).sort()).toEqual([...ring].sort());
    expect(ids(page)).toEqual([ring[0], ring[1], ring[2], ring[3], ring[4], ring[5]]);
    // A chain deeper than max_depth is cut there.
    const chain = [ring[0]!];
    for (let i = 0; i < 3; i++) chain.push(await createRoom(alice.api, { preset: 'public_chat', creation_content: { type: 'm.space' } }));
    for (let i = 1; i < chain.length - 1; i++) await link(chain[i]!, chain[i + 1]!, { via });
    await link(ring[5]!, chain[1]!, { via, order: 'a' });
    const deep = ids(ok(await hierarchy(bob, ring[0]!, 'max_depth=6')));
    expect(deep).toEqual([...ring, chain[1]]);
  });

  it('reports spaces as such in /publicRooms and /sync', async () => {
    const dir = ok(await bob.api.get(`${V3}/publicRooms`));
    expect(dir.chunk.find((r: Json) => r.room_id === space)).toMatchObject({ room_type: 'm.space', name: 'Cellule de crise' });
    const filtered = ok(await bob.api.post(`${V3}/publicRooms`, { filter: { generic_search_term: 'cellule' } }));
    expect(filtered.chunk.map((r: Json) => r.room_id)).toContain(space);
    const body = await sync(bob.api);
    const joined = body.rooms.join[space];
    const events = [...(joined.state?.events ?? []), ...(joined.timeline?.events ?? [])];
    expect(events.find((e: Json) => e.type === 'm.room.create').content.type).toBe('m.space');
    // An invitation to a space says so in its stripped state (Element shows it as a space).
    await invite(alice.api, sub, carol.userId);
    const invited = (await sync(carol.api)).rooms.invite[sub];
    expect(invited.invite_state.events.find((e: Json) => e.type === 'm.room.create').content.type).toBe('m.space');
    // Messages are kept out of the space by its power levels, as the spec recommends.
    expectError(await bob.api.put(`${V3}/rooms/${enc(space)}/send/m.room.message/t1`, { msgtype: 'm.text', body: 'hi' }), 403, 'M_FORBIDDEN');
  });
});
