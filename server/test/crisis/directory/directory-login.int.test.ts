// Login with the directory password, and the fallback to the last good password while LDAP is down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { startSlapd, type Slapd } from '../../support/slapd.ts';
import { SUFFIX, directoryConfigFile, person } from './ldap-fixture.ts';

describe('directory password login', () => {
  let slapd: Slapd;
  let server: TestServer;
  let admin: TestUser;
  let config: ReturnType<typeof directoryConfigFile>;
  const login = (user: string, password: string) =>
    new Api(server.url).post('/_matrix/client/v3/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password });

  beforeAll(async () => {
    slapd = await startSlapd(SUFFIX);
    slapd.ldif([person('alice', 'Alice Martin'), person('bob', 'Bob Bernard'), person('carol', 'Carol Petit')].join('\n'));
    config = directoryConfigFile(slapd, {}, { lifecycle: { deprovision_after_missing_syncs: 2, max_change_share: 1, offline_login_days: 7 } });
    server = await startTestServer(config.env);
    admin = await registerAdmin(server.url, 'dsi');
    expect((await admin.api.post('/_tocsin/v1/admin/directory/sync', {})).body.created).toBe(3);
  }, 60_000);

  afterAll(async () => {
    await closeAllTestServers();
    await slapd?.close();
    config?.cleanup();
  });

  it('accepts the directory password and refuses a wrong one', async () => {
    const ok = await login('alice', 'alice-pw');
    expect(ok.status).toBe(200);
    expect(ok.body.user_id).toBe('@alice:localhost');
    const wrong = await login('@alice:localhost', 'nope');
    expect(wrong.status).toBe(403);
    expect(wrong.body.errcode).toBe('M_FORBIDDEN');
    // An empty password would be an anonymous bind: never a login.
    expect((await login('alice', '')).status).toBe(403);
    // Filter metacharacters in the name reach LDAP escaped, and match nobody.
    expect((await login('*', 'alice-pw')).status).toBe(403);
  });

  it('after a password change in the directory, only the new one works', async () => {
    slapd.ldif(`dn: uid=alice,ou=people,${SUFFIX}\nchangetype: modify\nreplace: userPassword\nuserPassword: alice-new\n`, 'modify');
    expect((await login('alice', 'alice-pw')).status).toBe(403);
    expect((await login('alice', 'alice-new')).status).toBe(200);
  });

  it('local accounts keep working beside the directory', async () => {
    const local = await registerUser(server.url, 'local-agent', 'local password');
    expect((await login(local.userId, 'local password')).status).toBe(200);
  });

  it('with LDAP down: the last directory password works for offline_login_days, nothing else does', async () => {
    await slapd.stop();
    try {
      expect((await login('alice', 'alice-new')).status).toBe(200);
      expect((await login('alice', 'alice-pw')).status).toBe(403);
      expect((await login('alice', 'wrong')).status).toBe(403);
      // Bob never logged in: no cached password, no login while the directory is down.
      expect((await login('bob', 'bob-pw')).status).toBe(403);
      // The cache is older than offline_login_days: refused.
      await server.services.db('directory_accounts').where({ user_id: '@alice:localhost' }).update({ offline_verified_ts: Date.now() - 8 * 24 * 3600 * 1000 });
      expect((await login('alice', 'alice-new')).status).toBe(403);
    } finally {
      await slapd.start();
    }
  });

  it('a suspended person cannot log in, even with the right password', async () => {
    expect((await login('carol', 'carol-pw')).status).toBe(200);
    slapd.ldif(`dn: uid=carol,ou=people,${SUFFIX}\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n`, 'modify');
    expect((await admin.api.post('/_tocsin/v1/admin/directory/sync', {})).body.suspended).toBe(1);
    const res = await login('carol', 'carol-pw');
    expect(res.status).toBe(403);
    expect(res.body.errcode).toBe('M_USER_DEACTIVATED');
    await slapd.stop();
    try {
      expect((await login('carol', 'carol-pw')).body.errcode).toBe('M_USER_DEACTIVATED');
    } finally {
      await slapd.start();
    }
  });
});
