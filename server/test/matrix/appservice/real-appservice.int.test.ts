// A real application service library (`matrix-appservice`, the HTTP layer of
// matrix-appservice-bridge) against Tocsin: it checks the hs_token, receives the transactions,
// and its bridge sends as a ghost user. The events reach it in stream order, each once, across a
// restart of the homeserver. (appservice.int.test.ts drives the protocol's edge cases with a
// stand-in; this one proves a library bridges are built on accepts what Tocsin sends.)
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppService } from 'matrix-appservice';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, eventually, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const AS_TOKEN = 'as-real-0123456789abcdef';
const HS_TOKEN = 'hs-real-0123456789abcdef';
const V3 = '/_matrix/client/v3';

describe('a matrix-appservice bridge', () => {
  let server: TestServer;
  let service: AppService;
  let human: TestUser;
  let port: number;
  const received: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    service = new AppService({ homeserverToken: HS_TOKEN });
    service.on('event', (ev) => received.push(ev));
    await service.listen(0, '127.0.0.1', 10);
    port = ((service as unknown as { server: { address(): AddressInfo } }).server.address() as AddressInfo).port;
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-real-as-'));
    const registration = path.join(dir, 'bridge.yaml');
    writeFileSync(
      registration,
      [
        'id: realbridge',
        `url: http://127.0.0.1:${port}`,
        `as_token: ${AS_TOKEN}`,
        `hs_token: ${HS_TOKEN}`,
        'sender_localpart: realbot',
        'rate_limited: false',
        'namespaces:',
        '  users: [{ exclusive: true, regex: "@real_.*:localhost" }]',
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(dir, 'tocsin.yaml'), `app_service_config_files: [${JSON.stringify(registration)}]\n`);
    server = await startTestServer({ TOCSIN_CONFIG: path.join(dir, 'tocsin.yaml') });
    human = await registerUser(server.url);
  });

  afterAll(async () => {
    await closeAllTestServers();
    await service.close();
  });

  const asGhost = (userId: string) => ({
    post: (p: string, body: unknown) => new Api(server.url, AS_TOKEN).post(`${p}${p.includes('?') ? '&' : '?'}user_id=${enc(userId)}`, body),
    put: (p: string, body: unknown) => new Api(server.url, AS_TOKEN).put(`${p}${p.includes('?') ? '&' : '?'}user_id=${enc(userId)}`, body),
  });

  it('receives the room’s events in order, each once, across a restart, and sends as a ghost', async () => {
    const as = new Api(server.url, AS_TOKEN);
    expect((await as.post(`${V3}/register`, { type: 'm.login.application_service', username: 'real_zoe', inhibit_login: true })).status).toBe(200);
    const roomId = (await human.api.post(`${V3}/createRoom`, { preset: 'public_chat', name: 'Pont WhatsApp' })).body.room_id as string;
    const ghost = asGhost('@real_zoe:localhost');
    expect((await ghost.post(`${V3}/join/${enc(roomId)}`, {})).status).toBe(200);

    const sent: string[] = [];
    for (let i = 0; i < 5; i++) sent.push((await human.api.put(`${V3}/rooms/${enc(roomId)}/send/m.room.message/a${i}`, { msgtype: 'm.text', body: `avant ${i}` })).body.event_id);
    const fromGhost = await ghost.put(`${V3}/rooms/${enc(roomId)}/send/m.room.message/g1`, { msgtype: 'm.text', body: 'depuis WhatsApp' });
    expect(fromGhost.status).toBe(200);
    expect(fromGhost.body.event_id).toMatch(/^\$/);
    sent.push(fromGhost.body.event_id);
    await eventually(async () => (received.some((e) => e.event_id === fromGhost.body.event_id) ? true : undefined), 'the ghost’s message at the bridge');

    // The homeserver restarts; what is sent meanwhile and after still reaches the bridge.
    server = await server.restart();
    human = { ...human, api: new Api(server.url, human.token) };
    for (let i = 0; i < 5; i++) sent.push((await human.api.put(`${V3}/rooms/${enc(roomId)}/send/m.room.message/b${i}`, { msgtype: 'm.text', body: `après ${i}` })).body.event_id);
    const last = sent.at(-1)!;
    await eventually(async () => (received.some((e) => e.event_id === last) ? true : undefined), 'the messages after the restart at the bridge');

    const messages = received.filter((e) => e.type === 'm.room.message' && e.room_id === roomId).map((e) => e.event_id as string);
    expect(messages).toEqual(sent);
    // The ghost's message carries its sender, as a bridge needs to skip its own echo.
    expect(received.find((e) => e.event_id === fromGhost.body.event_id)?.sender).toBe('@real_zoe:localhost');
    // The library refuses a forged hs_token: only Tocsin's transactions got in.
    const forged = await fetch(`http://127.0.0.1:${port}/_matrix/app/v1/transactions/x`, {
      method: 'PUT',
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ event_id: '$forged', type: 'm.room.message' }] }),
    });
    expect(forged.status).toBe(403);
    expect(received.some((e) => e.event_id === '$forged')).toBe(false);
  });
});
