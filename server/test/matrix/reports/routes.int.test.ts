// Reports of rooms and events: accepted from those who can see them, stored for the admins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportRoutes } from '../../../src/matrix/reports/routes.ts';
import { enc, registerAdmin } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, V3, createRoom, expectError, join, ok, registerSpecUser, sendMessage, type SpecUser } from '../../support/spec-client.ts';

const ADMIN = '/_tocsin/v1/admin/reports';

describe('report routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let ana: SpecUser;
  let ben: SpecUser;
  let eve: SpecUser;
  let admin: SpecApi;

  beforeAll(async () => {
    server = await startTestServer();
    ana = await registerSpecUser(server.url, log);
    ben = await registerSpecUser(server.url, log);
    eve = await registerSpecUser(server.url, log);
    admin = new SpecApi(server.url, (await registerAdmin(server.url, `reportadmin${process.pid}`)).token, log);
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
    // Eve never joined: the event is not found for her, and nothing is stored.
    expectError(await eve.api.post(`${V3}/rooms/${r}/report/${enc(eventId)}`, { reason: 'x' }), 404, 'M_NOT_FOUND');
    expectError(await ben.api.post(`${V3}/rooms/${enc('!nope:localhost')}/report/${enc(eventId)}`, { reason: 'x' }), 404, 'M_NOT_FOUND');
    expectError(await ben.api.post(`${V3}/rooms/${enc('!nope:localhost')}/report`, { reason: 'x' }), 404, 'M_NOT_FOUND');
    expectError(await ben.api.post(`${V3}/rooms/${r}/report/${enc(eventId)}`, { score: 5 }), 400, 'M_BAD_JSON');
    expectError(await ben.api.post(`${V3}/rooms/${r}/report/${enc(eventId)}`, { reason: 42 }), 400, 'M_BAD_JSON');
    expectError(await ben.api.post(`${V3}/rooms/${r}/report/${enc(eventId)}`, { reason: 'x'.repeat(5000) }), 400, 'M_BAD_JSON');
    expectError(await ben.api.post(`${V3}/rooms/${r}/report`, {}), 400, 'M_BAD_JSON');

    const { reports } = ok(await admin.call('GET', `${ADMIN}?limit=10`, { offSpec: true }));
    const mine = reports.filter((x: { room_id: string }) => x.room_id === roomId);
    expect(mine).toHaveLength(2);
    // Newest first: the room report, then the event report with its sender and score.
    expect(mine[0]).toMatchObject({ reporter: ben.userId, room_id: roomId, event_id: null, reason: '' });
    expect(mine[1]).toMatchObject({ reporter: ben.userId, room_id: roomId, event_id: eventId, event_sender: ana.userId, reason: 'spam', score: -100 });
    expect(typeof mine[1].received_ts).toBe('number');
  });

  it('lets only admins read reports, page by page', async () => {
    const roomId = await createRoom(ana.api, {});
    for (const reason of ['one', 'two', 'three']) ok(await ana.api.post(`${V3}/rooms/${enc(roomId)}/report`, { reason }));
    expectError(await ana.api.call('GET', ADMIN, { offSpec: true }), 403, 'M_FORBIDDEN');
    const first = ok(await admin.call('GET', `${ADMIN}?limit=2`, { offSpec: true }));
    expect(first.reports.map((x: { reason: string }) => x.reason)).toEqual(['three', 'two']);
    const second = ok(await admin.call('GET', `${ADMIN}?limit=2&from=${first.next_token}`, { offSpec: true }));
    expect(second.reports[0].reason).toBe('one');
    for (const bad of ['limit=0', 'limit=abc', 'limit=100000', 'from=-1', 'from=x', `from=${'9'.repeat(40)}`]) {
      expectError(await admin.call('GET', `${ADMIN}?${bad}`, { offSpec: true }), 400, 'M_INVALID_PARAM');
    }
  });
});
