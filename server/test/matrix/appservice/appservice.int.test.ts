import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appserviceRoutes } from '../../../src/matrix/appservice/routes.ts';
import { AppserviceStandIn } from '../../support/appservice-standin.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import {
  CallLog,
  createRoom,
  eventually,
  expectError,
  invite,
  join,
  ok,
  registerSpecUser,
  sendMessage,
  SpecApi,
  V3,
  type SpecUser,
} from '../../support/spec-client.ts';

const AS_TOKEN = 'as-token-of-the-bridge-0123456789';
const HS_TOKEN = 'hs-token-of-the-bridge-9876543210';

describe('application services', () => {
  let server: TestServer;
  let service: AppserviceStandIn;
  const log = new CallLog();
  let human: SpecUser;
  let as: SpecApi;
  const asUser = (userId: string) => ({
    get: (p: string) => as.get(`${p}${p.includes('?') ? '&' : '?'}user_id=${enc(userId)}`),
    post: (p: string, body: unknown = {}) => as.post(`${p}${p.includes('?') ? '&' : '?'}user_id=${enc(userId)}`, body),
    put: (p: string, body: unknown = {}) => as.put(`${p}${p.includes('?') ? '&' : '?'}user_id=${enc(userId)}`, body),
  });

  beforeAll(async () => {
    service = await AppserviceStandIn.start(HS_TOKEN);
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-as-'));
    const registration = path.join(dir, 'bridge.yaml');
    writeFileSync(
      registration,
      [
        'id: bridge',
        `url: ${service.url}`,
        `as_token: ${AS_TOKEN}`,
        `hs_token: ${HS_TOKEN}`,
        'sender_localpart: bridgebot',
        'rate_limited: false',
        'namespaces:',
        '  users: [{ exclusive: true, regex: "@bridge_.*:localhost" }]',
        '  aliases: [{ exclusive: true, regex: "#bridge_.*:localhost" }]',
        '  rooms: []',
        '',
      ].join('\n'),
    );
    const config = path.join(dir, 'tocsin.yaml');
    writeFileSync(config, `app_service_config_files: [${JSON.stringify(registration)}]\n`);
    server = await startTestServer({ TOCSIN_CONFIG: config });
    human = await registerSpecUser(server.url, log);
    as = new SpecApi(server.url, AS_TOKEN, log);
    service.onUserQuery = async (userId) => {
      // As the spec asks: the service creates the user before answering.
      const localpart = userId.slice(1).split(':')[0]!;
      return (await as.post(`${V3}/register`, { type: 'm.login.application_service', username: localpart, inhibit_login: true })).status === 200;
    };
    service.onAliasQuery = async (alias) => {
      const name = alias.slice(1).split(':')[0]!;
      return (await as.post(`${V3}/createRoom`, { room_alias_name: name, preset: 'public_chat' })).status === 200;
    };
  });

  afterAll(async () => {
    log.expectRoutesCovered(appserviceRoutes(server.services));
    await closeAllTestServers();
    await service.close();
  });

  it('authenticates with the as_token, masquerades only inside its namespace, and refuses forged tokens', async () => {
    expect(ok(await as.get(`${V3}/account/whoami`)).user_id).toBe('@bridgebot:localhost');
    expectError(await new SpecApi(server.url, `${AS_TOKEN}x`, log).get(`${V3}/account/whoami`), 401, 'M_UNKNOWN_TOKEN');
    expectError(await new SpecApi(server.url, HS_TOKEN, log).get(`${V3}/account/whoami`), 401, 'M_UNKNOWN_TOKEN');

    // Registration of namespace users, by the service only.
    const reg = ok(await as.post(`${V3}/register`, { type: 'm.login.application_service', username: 'bridge_alice' }));
    expect(reg.user_id).toBe('@bridge_alice:localhost');
    expectError(await as.post(`${V3}/register`, { type: 'm.login.application_service', username: 'mallory' }), 400, 'M_EXCLUSIVE');
    expectError(await human.api.post(`${V3}/register`, { type: 'm.login.application_service', username: 'bridge_eve' }), 403, 'M_FORBIDDEN');
    expectError(await new SpecApi(server.url, undefined, log).post(`${V3}/register`, { type: 'm.login.application_service', username: 'bridge_eve' }), 401, 'M_MISSING_TOKEN');
    // The exclusive namespace is refused to everybody else.
    expectError(await new SpecApi(server.url, undefined, log).post(`${V3}/register`, { username: 'bridge_eve', password: 'x'.repeat(12), auth: { type: 'm.login.dummy' } }), 400, 'M_EXCLUSIVE');
    expectError(await new SpecApi(server.url, undefined, log).get(`${V3}/register/available?username=bridge_eve`), 400, 'M_EXCLUSIVE');

    expect(ok(await asUser('@bridge_alice:localhost').get(`${V3}/account/whoami`)).user_id).toBe('@bridge_alice:localhost');
    expectError(await asUser(human.userId).get(`${V3}/account/whoami`), 403, 'M_FORBIDDEN');
    expectError(await asUser('@bridge_nobody:localhost').get(`${V3}/account/whoami`), 403, 'M_FORBIDDEN');
    expectError(await asUser('not a user id').get(`${V3}/account/whoami`), 400, 'M_INVALID_PARAM');
    // A user's own token cannot masquerade.
    expect(ok(await human.api.get(`${V3}/account/whoami?user_id=${enc('@bridge_alice:localhost')}`)).user_id).toBe(human.userId);
  });

  it('pushes the events of rooms with its users as ordered transactions, across failures and a restart', async () => {
    const roomId = await createRoom(human.api, { preset: 'public_chat', name: 'Pont' });
    ok(await asUser('@bridge_alice:localhost').post(`${V3}/join/${enc(roomId)}`, {}));
    const first = await sendMessage(human.api, roomId, 'un');
    const ghost = ok(await asUser('@bridge_alice:localhost').put(`${V3}/rooms/${enc(roomId)}/send/m.room.message/g1`, { msgtype: 'm.text', body: 'depuis le pont' })).event_id;
    await eventually(async () => (service.events.some((e) => e.event_id === ghost) ? true : undefined), 'the ghost message in a transaction');
    const ids = service.events.map((e) => e.event_id);
    expect(ids.indexOf(first)).toBeLessThan(ids.indexOf(ghost));
    expect(service.events.find((e) => e.event_id === first)).toMatchObject({ room_id: roomId, sender: human.userId, type: 'm.room.message', content: { body: 'un' } });

    // The service goes down; events pile up; the server restarts; all arrive, in order, once.
    service.failTransactions = 1_000_000;
    const during = [await sendMessage(human.api, roomId, 'deux'), await sendMessage(human.api, roomId, 'trois')];
    await eventually(async () => (service.failTransactions < 1_000_000 ? true : undefined), 'a failed attempt');
    server = await server.restart();
    human = { ...human, api: new SpecApi(server.url, human.token, log) };
    as = new SpecApi(server.url, AS_TOKEN, log);
    const after = await sendMessage(human.api, roomId, 'quatre');
    service.failTransactions = 0;
    await eventually(async () => (service.events.some((e) => e.event_id === after) ? true : undefined), 'the events after the restart', 30_000);
    const all = service.events.map((e) => e.event_id);
    const expected = [first, ghost, ...during, after];
    expect(all.filter((id) => expected.includes(id))).toEqual(expected);
    expect(new Set(all).size).toBe(all.length);
    // Transaction ids only grow.
    const txnIds = service.transactions.map((t) => Number(t.txnId));
    expect([...txnIds].sort((a, b) => a - b)).toEqual(txnIds);
    // Rooms without the service's users stay private to their members.
    const other = await createRoom(human.api, { preset: 'private_chat' });
    const secret = await sendMessage(human.api, other, 'secret');
    const marker = await sendMessage(human.api, roomId, 'marqueur');
    await eventually(async () => (service.events.some((e) => e.event_id === marker) ? true : undefined), 'the marker');
    expect(service.events.some((e) => e.event_id === secret)).toBe(false);
    expect(service.refused).toEqual([]);
  });

  it('asks the service about unknown users and aliases of its namespaces', async () => {
    const roomId = await createRoom(human.api, { preset: 'private_chat' });
    await invite(human.api, roomId, '@bridge_bob:localhost');
    expect(service.userQueries).toContain('@bridge_bob:localhost');
    expectError(await human.api.post(`${V3}/rooms/${enc(roomId)}/invite`, { user_id: '@stranger:localhost' }), 404, 'M_NOT_FOUND');
    expect(service.userQueries).not.toContain('@stranger:localhost');

    const found = ok(await human.api.get(`${V3}/directory/room/${enc('#bridge_lobby:localhost')}`));
    expect(found.room_id).toMatch(/^!/);
    expect(service.aliasQueries).toEqual(['#bridge_lobby:localhost']);
    expectError(await human.api.get(`${V3}/directory/room/${enc('#elsewhere:localhost')}`), 404, 'M_NOT_FOUND');
    // Exclusive aliases are the service's.
    const mine = await createRoom(human.api, {});
    expectError(await human.api.put(`${V3}/directory/room/${enc('#bridge_fake:localhost')}`, { room_id: mine }), 400, 'M_EXCLUSIVE');
    await join(human.api, found.room_id);
  });

  it('pings the service for its owner only', async () => {
    const pong = ok(await as.post('/_matrix/client/v1/appservice/bridge/ping', { transaction_id: 'mon-ping' }));
    expect(pong.duration_ms).toEqual(expect.any(Number));
    expect(service.pings).toContainEqual({ transaction_id: 'mon-ping' });
    expectError(await human.api.post('/_matrix/client/v1/appservice/bridge/ping', {}), 403, 'M_FORBIDDEN');
    expectError(await as.post('/_matrix/client/v1/appservice/other/ping', {}), 403, 'M_FORBIDDEN');
    expectError(await as.post('/_matrix/client/v1/appservice/bridge/ping', { transaction_id: 42 }), 400, 'M_BAD_JSON');
  });
});
