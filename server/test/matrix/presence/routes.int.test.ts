// Presence, minimal: a user sets their own status, anyone logged in reads it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presenceRoutes } from '../../../src/matrix/presence/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, expectError, ok, registerSpecUser, type SpecUser } from '../../support/spec-client.ts';

describe('presence routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let ana: SpecUser;
  let ben: SpecUser;

  beforeAll(async () => {
    server = await startTestServer();
    ana = await registerSpecUser(server.url, log);
    ben = await registerSpecUser(server.url, log);
  });

  afterAll(async () => {
    log.expectRoutesCovered(presenceRoutes(server.services));
    await closeAllTestServers();
  });

  const at = (userId: string) => `${V3}/presence/${enc(userId)}/status`;

  it('is offline until set, then shows what was set', async () => {
    expect(ok(await ben.api.get(at(ana.userId)))).toEqual({ presence: 'offline' });
    ok(await ana.api.put(at(ana.userId), { presence: 'unavailable', status_msg: 'En intervention' }));
    const got = ok(await ben.api.get(at(ana.userId)));
    expect(got).toMatchObject({ presence: 'unavailable', status_msg: 'En intervention', currently_active: false });
    expect(got.last_active_ago).toBeGreaterThanOrEqual(0);
    ok(await ana.api.put(at(ana.userId), { presence: 'online' }));
    expect(ok(await ben.api.get(at(ana.userId)))).toMatchObject({ presence: 'online', currently_active: true });
  });

  it('refuses other users’ presence, unknown users and bad values', async () => {
    expectError(await ben.api.put(at(ana.userId), { presence: 'offline' }), 403, 'M_FORBIDDEN');
    expectError(await ben.api.get(at('@nobody:localhost')), 404, 'M_NOT_FOUND');
    expectError(await ben.api.get(at('not-a-user')), 400, 'M_INVALID_PARAM');
    expectError(await ana.api.put(at(ana.userId), { presence: 'busy' }), 400, 'M_BAD_JSON');
    expectError(await ana.api.put(at(ana.userId), { presence: 'online', status_msg: 'x'.repeat(2000) }), 400, 'M_BAD_JSON');
  });
});
