import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer } from '../../support/server.ts';

describe('account deactivation', () => {
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    const server = await startTestServer();
    alice = await registerUser(server.url);
    bob = await registerUser(server.url);
  });
  afterAll(closeAllTestServers);

  it('leaves every room, rejects pending invites and kills every token', async () => {
    const joined = (await alice.api.post('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    const invited = (await alice.api.post('/_matrix/client/v3/createRoom', { invite: [bob.userId] })).body.room_id;
    expect((await bob.api.post(`/_matrix/client/v3/join/${enc(joined)}`)).status).toBe(200);

    const first = await bob.api.post('/_matrix/client/v3/account/deactivate', {});
    const session = first.body.session;
    const done = await bob.api.post('/_matrix/client/v3/account/deactivate', {
      auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: bob.userId }, password: bob.password, session },
    });
    expect(done.status).toBe(200);

    const members = async (roomId: string) => (await alice.api.get(`/_matrix/client/v3/rooms/${enc(roomId)}/members`)).body.chunk;
    const bobIn = async (roomId: string) => (await members(roomId)).find((m: { state_key: string }) => m.state_key === bob.userId)?.content.membership;
    expect(await bobIn(joined)).toBe('leave');
    expect(await bobIn(invited)).toBe('leave');
    expect((await bob.api.get('/_matrix/client/v3/account/whoami')).body.errcode).toBe('M_UNKNOWN_TOKEN');
  });
});
