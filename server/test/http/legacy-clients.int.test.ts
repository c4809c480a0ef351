// What older stock clients need of the HTTP layer (Hydrogen, see
// test/matrix/stock-web-client.int.test.ts): the r0 prefix answered as v3, and JSON answers
// typed exactly `application/json`, which Hydrogen compares as a string.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser, type TestUser } from '../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../support/server.ts';

describe('answers for clients of the r0 API', () => {
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await registerUser(server.url);
  });
  afterAll(closeAllTestServers);

  const auth = () => ({ authorization: `Bearer ${alice.token}` });

  it('serves /_matrix/client/r0 and /_matrix/media/r0 by their v3 routes', async () => {
    const flows = await fetch(`${server.url}/_matrix/client/r0/login`);
    expect(flows.status).toBe(200);
    expect((await flows.json()).flows).toContainEqual(expect.objectContaining({ type: 'm.login.password' }));

    const whoami = await fetch(`${server.url}/_matrix/client/r0/account/whoami`, { headers: auth() });
    expect(await whoami.json()).toMatchObject({ user_id: alice.userId });

    const room = await fetch(`${server.url}/_matrix/client/r0/createRoom`, { method: 'POST', headers: auth(), body: JSON.stringify({ name: 'r0' }) });
    expect(room.status).toBe(200);
    const { room_id: roomId } = (await room.json()) as { room_id: string };
    const sync = await fetch(`${server.url}/_matrix/client/r0/sync?timeout=0`, { headers: auth() });
    expect(Object.keys((await sync.json()).rooms.join)).toContain(roomId);

    const upload = await fetch(`${server.url}/_matrix/media/r0/upload?filename=note.txt`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'text/plain' },
      body: 'point de situation',
    });
    expect(upload.status).toBe(200);
    const { content_uri: uri } = (await upload.json()) as { content_uri: string };
    expect(uri).toMatch(/^mxc:\/\/localhost\//);
  });

  it('rewrites only the r0 segment right after /_matrix/client or /_matrix/media', async () => {
    for (const p of ['/_matrix/client/r01/login', '/_matrix/client/v3/r0/login', '/_matrix/key/r0/login', '/_tocsin/r0/login']) {
      const r = await fetch(`${server.url}${p}`);
      expect(r.status, p).toBe(404);
      expect((await r.json()).errcode, p).toBe('M_UNRECOGNIZED');
    }
  });

  it('types every JSON answer exactly application/json, errors included', async () => {
    const answers = [
      await fetch(`${server.url}/_matrix/client/versions`),
      await fetch(`${server.url}/_matrix/client/v3/account/whoami`, { headers: auth() }),
      await fetch(`${server.url}/_matrix/media/v3/upload`, { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'x' }),
      await fetch(`${server.url}/_matrix/client/v3/account/whoami`), // 401 M_MISSING_TOKEN
      await fetch(`${server.url}/_matrix/client/v3/nowhere`), // 404 M_UNRECOGNIZED
      await fetch(`${server.url}/_matrix/client/versions`, { method: 'DELETE' }), // 405
      await fetch(`${server.url}/_matrix/client/v3/login`, { method: 'POST', body: '{"type":' }), // 400 M_NOT_JSON
    ];
    for (const r of answers) {
      expect(r.headers.get('content-type'), r.url).toBe('application/json');
      expect(await r.json(), r.url).toBeTypeOf('object');
    }
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 401, 404, 405, 400]);
  });
});
