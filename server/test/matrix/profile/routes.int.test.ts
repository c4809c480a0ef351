// Profiles: read anyone's, change only one's own, and see the change reach the member event
// of every joined room (and the syncs of the other members).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { profileRoutes } from '../../../src/matrix/profile/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, V3, createRoom, expectError, join, ok, registerSpecUser, sync, type SpecUser } from '../../support/spec-client.ts';

describe('profile routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let anon: SpecApi;
  let dora: SpecUser;
  let eli: SpecUser;

  beforeAll(async () => {
    server = await startTestServer();
    anon = new SpecApi(server.url, undefined, log);
    dora = await registerSpecUser(server.url, log);
    eli = await registerSpecUser(server.url, log);
  });

  afterAll(async () => {
    log.expectRoutesCovered(profileRoutes(server.services));
    await closeAllTestServers();
  });

  const profile = (userId: string, field = '') => `${V3}/profile/${enc(userId)}${field ? `/${field}` : ''}`;

  it('reads a profile whole or by field, without a token', async () => {
    const localpart = dora.userId.slice(1).split(':')[0]!;
    expect(ok(await anon.get(profile(dora.userId)))).toEqual({ displayname: localpart });
    expect(ok(await anon.get(profile(dora.userId, 'displayname')))).toEqual({ displayname: localpart });
    expectError(await anon.get(profile(dora.userId, 'avatar_url')), 404, 'M_NOT_FOUND');
  });

  it('changes one own display name and avatar', async () => {
    ok(await dora.api.put(profile(dora.userId, 'displayname'), { displayname: 'Dora Dupré 🚒' }));
    ok(await dora.api.put(profile(dora.userId, 'avatar_url'), { avatar_url: 'mxc://localhost/dora' }));
    expect(ok(await eli.api.get(profile(dora.userId)))).toEqual({ displayname: 'Dora Dupré 🚒', avatar_url: 'mxc://localhost/dora' });
    expect(ok(await anon.get(profile(dora.userId, 'avatar_url')))).toEqual({ avatar_url: 'mxc://localhost/dora' });
  });

  it('refuses to change someone else’s profile', async () => {
    expectError(await eli.api.put(profile(dora.userId, 'displayname'), { displayname: 'pwned' }), 403, 'M_FORBIDDEN');
    expectError(await eli.api.put(profile(dora.userId, 'avatar_url'), { avatar_url: 'mxc://localhost/x' }), 403, 'M_FORBIDDEN');
    expectError(await anon.put(profile(dora.userId, 'displayname'), { displayname: 'pwned' }), 401, 'M_MISSING_TOKEN');
    expect(ok(await anon.get(profile(dora.userId, 'displayname'))).displayname).toBe('Dora Dupré 🚒');
  });

  it('answers 404 for unknown users and 400 for things that are not user ids', async () => {
    expectError(await anon.get(profile('@nobody:localhost')), 404, 'M_NOT_FOUND');
    expectError(await anon.get(profile('@nobody:localhost', 'displayname')), 404, 'M_NOT_FOUND');
    for (const bad of ['nobody', '@no body:localhost', `@x:localhost' OR '1'='1`, '@:localhost']) {
      expectError(await anon.get(profile(bad)), 400, 'M_INVALID_PARAM');
    }
  });

  it('validates values', async () => {
    expectError(await dora.api.put(profile(dora.userId, 'avatar_url'), { avatar_url: 'https://evil.example/x.png' }), 400, 'M_INVALID_PARAM');
    expectError(await dora.api.put(profile(dora.userId, 'avatar_url'), { avatar_url: 'mxc://only-server' }), 400, 'M_INVALID_PARAM');
    expectError(await dora.api.put(profile(dora.userId, 'displayname'), { displayname: 42 }), 400, 'M_BAD_JSON');
    expectError(await dora.api.put(profile(dora.userId, 'displayname'), { displayname: 'x'.repeat(5000) }), 400, 'M_BAD_JSON');
  });

  it('propagates a change to the member event of every joined room, seen by the others in sync', async () => {
    const fay = await registerSpecUser(server.url, log);
    const rooms = [await createRoom(fay.api, { preset: 'public_chat' }), await createRoom(eli.api, { preset: 'public_chat' })];
    for (const r of rooms) await join(fay.api, r);
    await join(eli.api, rooms[0]!);
    const since = (await sync(eli.api)).next_batch;

    ok(await fay.api.put(profile(fay.userId, 'displayname'), { displayname: 'Fay (astreinte)' }));
    ok(await fay.api.put(profile(fay.userId, 'avatar_url'), { avatar_url: 'mxc://localhost/fay' }));
    for (const r of rooms) {
      const member = ok(await eli.api.get(`${V3}/rooms/${enc(r)}/state/m.room.member/${enc(fay.userId)}`));
      expect(member).toEqual({ membership: 'join', displayname: 'Fay (astreinte)', avatar_url: 'mxc://localhost/fay' });
      const members = ok(await eli.api.get(`${V3}/rooms/${enc(r)}/joined_members`)).joined;
      expect(members[fay.userId]).toEqual({ display_name: 'Fay (astreinte)', avatar_url: 'mxc://localhost/fay' });
    }
    const next = await sync(eli.api, { since });
    const events = next.rooms.join[rooms[0]!].timeline.events.filter((e: { type: string; state_key?: string }) => e.type === 'm.room.member' && e.state_key === fay.userId);
    expect(events.at(-1).content).toEqual({ membership: 'join', displayname: 'Fay (astreinte)', avatar_url: 'mxc://localhost/fay' });
    expect(events.some((e: { unsigned: { prev_content?: { displayname?: string } } }) => e.unsigned.prev_content?.displayname !== 'Fay (astreinte)')).toBe(true);

    // Clearing the avatar (null) removes it everywhere.
    ok(await fay.api.put(profile(fay.userId, 'avatar_url'), { avatar_url: null }));
    expect(ok(await anon.get(profile(fay.userId)))).toEqual({ displayname: 'Fay (astreinte)' });
    const member = ok(await eli.api.get(`${V3}/rooms/${enc(rooms[0]!)}/state/m.room.member/${enc(fay.userId)}`));
    expect(member.avatar_url).toBeUndefined();
  });
});
