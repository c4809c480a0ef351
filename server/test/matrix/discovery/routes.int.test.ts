// Discovery: what a client reads before and right after logging in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoveryRoutes } from '../../../src/matrix/discovery/routes.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, V3, expectError, ok, registerSpecUser, type SpecUser } from '../../support/spec-client.ts';

describe('discovery routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let anon: SpecApi;
  let cleo: SpecUser;

  beforeAll(async () => {
    server = await startTestServer();
    anon = new SpecApi(server.url, undefined, log);
    cleo = await registerSpecUser(server.url, log);
  });

  afterAll(async () => {
    log.expectRoutesCovered(discoveryRoutes(server.services));
    await closeAllTestServers();
  });

  it('lists spec versions that login discovery accepts, with or without a token', async () => {
    for (const api of [anon, cleo.api]) {
      const body = ok(await api.get('/_matrix/client/versions'));
      expect(body.versions.length).toBeGreaterThan(0);
      for (const v of body.versions) expect(v).toMatch(/^v1\.\d+$|^r0\.\d+\.\d+$/);
      expect(body.versions.some((v: string) => /^v1\.(1|2|3|4|5|6|7|8|9|10|11|12|13)$/.test(v))).toBe(true);
    }
  });

  it('serves .well-known/matrix/client pointing at itself', async () => {
    const body = ok(await anon.get('/.well-known/matrix/client'));
    expect(body['m.homeserver'].base_url).toMatch(/^https?:\/\//);
  });

  it('reports health (outside the spec)', async () => {
    expect(ok(await anon.call('GET', '/health', { offSpec: true }))).toEqual({ status: 'ok' });
  });

  it('describes capabilities to a logged-in user', async () => {
    const caps = ok(await cleo.api.get(`${V3}/capabilities`)).capabilities;
    expect(caps['m.change_password'].enabled).toBe(true);
    expect(caps['m.room_versions'].available[caps['m.room_versions'].default]).toBe('stable');
    expectError(await anon.get(`${V3}/capabilities`), 401, 'M_MISSING_TOKEN');
  });

  it('refuses /login/get_token as its capability says, and offers no token login', async () => {
    const caps = ok(await cleo.api.get(`${V3}/capabilities`)).capabilities;
    expect(caps['m.get_login_token']).toEqual({ enabled: false });
    const getToken = '/_matrix/client/v1/login/get_token';
    // With or without UIA data, even a well-formed one: refused at once, the spec's 400.
    for (const body of [{}, { auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: cleo.userId }, password: cleo.password } }, { auth: 42 }]) {
      expectError(await cleo.api.post(getToken, body), 400, 'M_FORBIDDEN');
    }
    expectError(await anon.post(getToken, {}), 401, 'M_MISSING_TOKEN');
    const flows = ok(await anon.get(`${V3}/login`)).flows as Array<{ type: string; get_login_token?: boolean }>;
    expect(flows.some((f) => f.type === 'm.login.token' && f.get_login_token)).toBe(false);
  });

  it('serves push rules (matrix-js-sdk waits for them before its first sync)', async () => {
    const all = ok(await cleo.api.get(`${V3}/pushrules/`));
    expect(all.global.override.some((r: { rule_id: string }) => r.rule_id === '.m.rule.master')).toBe(true);
    const global = ok(await cleo.api.get(`${V3}/pushrules/global/`));
    expect(global).toEqual(all.global);
    // Rules that mention the user name the user.
    expect(JSON.stringify(all)).toContain(cleo.userId.slice(1).split(':')[0]!);
    expectError(await anon.get(`${V3}/pushrules/`), 401, 'M_MISSING_TOKEN');
  });
});
