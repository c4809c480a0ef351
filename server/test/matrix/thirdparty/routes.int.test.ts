// Third-party protocols (none) and the account's third-party identifiers (its alert contacts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thirdPartyRoutes } from '../../../src/matrix/thirdparty/routes.ts';
import { enc, registerAdmin, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, V3, expectError, ok, registerSpecUser, type SpecUser } from '../../support/spec-client.ts';

describe('third-party routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let ana: SpecUser;
  let admin: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    ana = await registerSpecUser(server.url, log);
    admin = await registerAdmin(server.url, `admin${process.pid}`);
  });

  afterAll(async () => {
    log.expectRoutesCovered(thirdPartyRoutes(server.services));
    await closeAllTestServers();
  });

  it('lists no protocols', async () => {
    expect(ok(await ana.api.get(`${V3}/thirdparty/protocols`))).toEqual({});
    expectError(await new SpecApi(server.url, undefined, log).get(`${V3}/thirdparty/protocols`), 401, 'M_MISSING_TOKEN');
  });

  it('shows the contacts set for alerts as 3pids, only to their owner', async () => {
    expect(ok(await ana.api.get(`${V3}/account/3pid`))).toEqual({ threepids: [] });
    const set = await admin.api.put(`/_tocsin/v1/admin/users/${enc(ana.userId)}/contacts`, { email: 'ana@example.org', phone: '+33612345678' });
    expect(set.status).toBe(200);
    const { threepids } = ok(await ana.api.get(`${V3}/account/3pid`));
    expect(threepids.map((t: { medium: string; address: string }) => [t.medium, t.address])).toEqual([['email', 'ana@example.org'], ['msisdn', '33612345678']]);
  });
});
