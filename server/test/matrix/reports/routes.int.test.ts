// Reports of rooms and events: accepted from those who can see them, logged for the admins.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { reportRoutes } from '../../../src/matrix/reports/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, expectError, join, ok, registerSpecUser, sendMessage, type SpecUser } from '../../support/spec-client.ts';

describe('report routes', () => {
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
    log.expectRoutesCovered(reportRoutes(server.services));
    await closeAllTestServers();
  });

  it('takes reports of rooms and visible events, and says nothing of invisible ones', async () => {
    const roomId = await createRoom(ana.api, { preset: 'public_chat' });
    await join(ben.api, roomId);
    const eventId = await sendMessage(ana.api, roomId, 'spam');
    const r = enc(roomId);
    ok(await ben.api.post(`${V3}/rooms/${r}/report/${enc(eventId)}`, { reason: 'spam', score: -100 }));
    ok(await ben.api.post(`${V3}/rooms/${r}/report`, { reason: '' }));
    // Eve never joined: the event is not found for her.
    expectError(await eve.api.post(`${V3}/rooms/${r}/report/${enc(eventId)}`, { reason: 'x' }), 404, 'M_NOT_FOUND');
    expectError(await ben.api.post(`${V3}/rooms/${enc('!nope:localhost')}/report/${enc(eventId)}`, { reason: 'x' }), 404, 'M_NOT_FOUND');
    expectError(await ben.api.post(`${V3}/rooms/${enc('!nope:localhost')}/report`, { reason: 'x' }), 404, 'M_NOT_FOUND');
    expectError(await ben.api.post(`${V3}/rooms/${r}/report/${enc(eventId)}`, { score: 5 }), 400, 'M_BAD_JSON');
    expectError(await ben.api.post(`${V3}/rooms/${r}/report`, {}), 400, 'M_BAD_JSON');
  });
});
