// Account data: global and per room, one's own only; server-managed types are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountDataRoutes } from '../../../src/matrix/account-data/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, expectError, ok, registerSpecUser, sync, type SpecUser } from '../../support/spec-client.ts';

describe('account data routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let gil: SpecUser;
  let hugo: SpecUser;
  let roomId: string;

  beforeAll(async () => {
    server = await startTestServer();
    gil = await registerSpecUser(server.url, log);
    hugo = await registerSpecUser(server.url, log);
    roomId = await createRoom(gil.api);
  });

  afterAll(async () => {
    log.expectRoutesCovered(accountDataRoutes(server.services));
    await closeAllTestServers();
  });

  const global = (user: SpecUser, type: string, owner = user.userId) => `${V3}/user/${enc(owner)}/account_data/${enc(type)}`;
  const perRoom = (user: SpecUser, r: string, type: string, owner = user.userId) => `${V3}/user/${enc(owner)}/rooms/${enc(r)}/account_data/${enc(type)}`;

  it('stores, replaces and reads global account data', async () => {
    ok(await gil.api.put(global(gil, 'org.tocsin.settings'), { lang: 'fr', nested: { a: [1, 2, { b: null }] } }));
    expect(ok(await gil.api.get(global(gil, 'org.tocsin.settings')))).toEqual({ lang: 'fr', nested: { a: [1, 2, { b: null }] } });
    ok(await gil.api.put(global(gil, 'org.tocsin.settings'), { lang: 'en' }));
    expect(ok(await gil.api.get(global(gil, 'org.tocsin.settings')))).toEqual({ lang: 'en' });
    // Types are opaque strings.
    for (const type of ["o'brien", 'a/b', 'ünï😀', 'x"; DROP TABLE account_data; --']) {
      ok(await gil.api.put(global(gil, type), { type }));
      expect(ok(await gil.api.get(global(gil, type)))).toEqual({ type });
    }
    ok(await gil.api.put(global(gil, 'm.direct'), {}));
    expect(ok(await gil.api.get(global(gil, 'm.direct')))).toEqual({});
  });

  it('stores room account data apart from global data and from other rooms', async () => {
    const other = await createRoom(gil.api);
    ok(await gil.api.put(perRoom(gil, roomId, 'm.tag'), { tags: { 'm.favourite': { order: 0.5 } } }));
    expect(ok(await gil.api.get(perRoom(gil, roomId, 'm.tag')))).toEqual({ tags: { 'm.favourite': { order: 0.5 } } });
    expectError(await gil.api.get(perRoom(gil, other, 'm.tag')), 404, 'M_NOT_FOUND');
    expectError(await gil.api.get(global(gil, 'm.tag')), 404, 'M_NOT_FOUND');
  });

  it('answers 404 for data never set', async () => {
    expectError(await gil.api.get(global(gil, 'org.tocsin.never')), 404, 'M_NOT_FOUND');
    expectError(await gil.api.get(perRoom(gil, roomId, 'org.tocsin.never')), 404, 'M_NOT_FOUND');
  });

  it('keeps each user’s data to that user (403)', async () => {
    expectError(await hugo.api.get(global(hugo, 'org.tocsin.settings', gil.userId)), 403, 'M_FORBIDDEN');
    expectError(await hugo.api.put(global(hugo, 'org.tocsin.settings', gil.userId), { lang: 'pwned' }), 403, 'M_FORBIDDEN');
    expectError(await hugo.api.get(perRoom(hugo, roomId, 'm.tag', gil.userId)), 403, 'M_FORBIDDEN');
    expectError(await hugo.api.put(perRoom(hugo, roomId, 'm.tag', gil.userId), { tags: {} }), 403, 'M_FORBIDDEN');
    // Hugo's own namespace is separate.
    expectError(await hugo.api.get(global(hugo, 'org.tocsin.settings')), 404, 'M_NOT_FOUND');
    expect(ok(await gil.api.get(global(gil, 'org.tocsin.settings')))).toEqual({ lang: 'en' });
    // And it never reaches Hugo's sync.
    expect(JSON.stringify((await sync(hugo.api)).account_data)).not.toContain('org.tocsin.settings');
  });

  it('refuses server-managed types with 405 M_BAD_JSON', async () => {
    expectError(await gil.api.put(global(gil, 'm.push_rules'), { global: {} }), 405, 'M_BAD_JSON');
    expectError(await gil.api.put(perRoom(gil, roomId, 'm.fully_read'), { event_id: '$x' }), 405, 'M_BAD_JSON');
    expectError(await gil.api.put(global(gil, 'm.fully_read'), { event_id: '$x' }), 405, 'M_BAD_JSON');
  });

  it('sets, lists and removes room tags through the tags API, seen in sync as m.tag', async () => {
    const room = await createRoom(gil.api);
    const tags = (owner = gil.userId, r = room) => `${V3}/user/${enc(owner)}/rooms/${enc(r)}/tags`;
    expect(ok(await gil.api.get(tags()))).toEqual({ tags: {} });
    // Two tags set at once both stay (the m.tag row is read and written under a lock).
    await Promise.all([
      gil.api.put(`${tags()}/m.favourite`, { order: 0.25 }).then(ok),
      gil.api.put(`${tags()}/${enc('u.Cellule de crise')}`, {}).then(ok),
      gil.api.put(`${tags()}/m.lowpriority`, { order: 0.5, 'org.example.colour': 'red' }).then(ok),
    ]);
    expect(ok(await gil.api.get(tags()))).toEqual({
      tags: { 'm.favourite': { order: 0.25 }, 'u.Cellule de crise': {}, 'm.lowpriority': { order: 0.5, 'org.example.colour': 'red' } },
    });
    ok(await gil.api.delete(`${tags()}/m.lowpriority`));
    ok(await gil.api.delete(`${tags()}/m.never-set`));
    const expected = { 'm.favourite': { order: 0.25 }, 'u.Cellule de crise': {} };
    expect(ok(await gil.api.get(tags()))).toEqual({ tags: expected });
    // The same data as the m.tag room account data, which sync delivers.
    expect(ok(await gil.api.get(perRoom(gil, room, 'm.tag')))).toEqual({ tags: expected });
    const events = (await sync(gil.api)).rooms.join[room].account_data.events;
    expect(events).toContainEqual({ type: 'm.tag', content: { tags: expected } });

    expectError(await hugo.api.get(tags(gil.userId)), 403, 'M_FORBIDDEN');
    expectError(await hugo.api.put(`${tags(gil.userId)}/m.favourite`, {}), 403, 'M_FORBIDDEN');
    expectError(await hugo.api.delete(`${tags(gil.userId)}/m.favourite`), 403, 'M_FORBIDDEN');
    expectError(await gil.api.put(`${tags()}/${'t'.repeat(256)}`, {}), 400, 'M_INVALID_PARAM');
    expectError(await gil.api.put(`${tags()}/m.favourite`, { order: 'first' }), 400, 'M_BAD_JSON');
    expectError(await gil.api.put(`${tags()}/m.favourite`, { order: 1.5 }), 400, 'M_BAD_JSON');
    expectError(await gil.api.get(tags(gil.userId, 'not-a-room')), 400, 'M_INVALID_PARAM');
    expect(ok(await gil.api.get(tags()))).toEqual({ tags: expected });
  });

  it('validates the room id and the type', async () => {
    for (const bad of ['not-a-room', '@gil:localhost', '#alias:localhost']) {
      expectError(await gil.api.put(perRoom(gil, bad, 'm.tag'), { tags: {} }), 400, 'M_INVALID_PARAM');
      expectError(await gil.api.get(perRoom(gil, bad, 'm.tag')), 400, 'M_INVALID_PARAM');
    }
    expectError(await gil.api.put(global(gil, 't'.repeat(300)), {}), 400, 'M_INVALID_PARAM');
  });
});
