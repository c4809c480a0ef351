// LDAP provisioning against a real OpenLDAP slapd: every transition of a person's life in the
// directory, and the safety net that keeps a broken directory from emptying Tocsin.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { startSlapd, type Slapd } from '../../support/slapd.ts';
import { SUFFIX, directoryConfigFile, group, person } from './ldap-fixture.ts';

const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function tocsin(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args], { cwd: serverDir, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const u = (name: string) => `@${name}:localhost`;

describe('LDAP directory sync', () => {
  let slapd: Slapd;
  let server: TestServer;
  let admin: TestUser;
  let config: ReturnType<typeof directoryConfigFile>;
  let cellRoom: string;
  let directionRoom: string;

  const sync = async (body: Record<string, unknown> = {}) => {
    const res = await admin.api.post('/_tocsin/v1/admin/directory/sync', body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };
  const userRow = (id: string) => server.services.accounts.getUser(id);
  const membershipIn = async (roomId: string, userId: string) => {
    const row = await server.services.db('memberships').where({ room_id: roomId, user_id: userId }).first('membership');
    return row?.membership as string | undefined;
  };
  const groupMembers = async (groupId: string) =>
    (await server.services.db('group_members').where({ group_id: groupId }).orderBy('user_id').select('user_id')).map((r: { user_id: string }) => r.user_id);

  beforeAll(async () => {
    slapd = await startSlapd(SUFFIX);
    slapd.ldif(
      [
        person('alice', 'Alice Martin', { mail: 'Alice@example.org', mobile: '06 12 34 56 78', preferredLanguage: 'fr' }),
        person('bob', 'Bob Bernard', { mail: 'bob@example.org', mobile: '+33 6 11 11 11 11' }),
        person('carol', 'Carol Petit', { mail: 'carol@example.org' }),
        person('dave', 'Dave Roux', { mobile: 'not a number' }),
        person('erin', 'Erin Blanc', { employeeType: 'disabled' }),
        // Active Directory's way: userAccountControl with bit 2 (ACCOUNTDISABLE), 514 = 512 | 2.
        person('frank', 'Frank Vert', { objectClass: 'extensibleObject', userAccountControl: '514' }),
        group('cellule-crise', ['alice', 'bob']),
        group('direction', ['carol', 'dave']),
      ].join('\n'),
    );
    config = directoryConfigFile(slapd, {}, { rooms: { 'cellule-crise': ['#cellule-crise:localhost'], direction: ['#direction:localhost'] } });
    server = await startTestServer(config.env);
    admin = await registerAdmin(server.url, 'dsi');
    cellRoom = (await admin.api.post('/_matrix/client/v3/createRoom', { preset: 'private_chat', room_alias_name: 'cellule-crise' })).body.room_id;
    directionRoom = (await admin.api.post('/_matrix/client/v3/createRoom', { preset: 'private_chat', room_alias_name: 'direction' })).body.room_id;
  }, 60_000);

  afterAll(async () => {
    await closeAllTestServers();
    await slapd?.close();
    config?.cleanup();
  });

  it('is for server administrators only', async () => {
    const someone = await registerUser(server.url);
    const res = await someone.api.post('/_tocsin/v1/admin/directory/sync', { dry_run: true });
    expect(res.status).toBe(403);
    expect(res.body.errcode).toBe('M_FORBIDDEN');
    expect((await new Api(server.url).post('/_tocsin/v1/admin/directory/sync', {})).status).toBe(401);
    expect((await admin.api.post('/_tocsin/v1/admin/directory/sync', { dry_run: 'yes' })).body.errcode).toBe('M_BAD_JSON');
  });

  it('a dry run prints the plan and changes nothing', async () => {
    const plan = await sync({ dry_run: true });
    expect(plan).toMatchObject({ dry_run: true, created: 4, updated: 0, suspended: 0, deprovisioned: 0 });
    expect(plan.stopped).toBeUndefined();
    expect(plan.plan.create.map((c: { user_id: string }) => c.user_id).sort()).toEqual([u('alice'), u('bob'), u('carol'), u('dave')]);
    expect(plan.plan.skipped).toEqual([
      { login: 'erin', reason: 'disabled in the directory' },
      { login: 'frank', reason: 'disabled in the directory' },
    ]);
    expect(plan.warnings.join('\n')).toContain('not a number');
    expect(await userRow(u('alice'))).toBeUndefined();

    const cli = await tocsin(['directory', 'sync', '--dry-run'], { TOCSIN_URL: server.url, TOCSIN_TOKEN: admin.token });
    expect(cli.stderr).toBe('');
    expect(cli.status).toBe(0);
    expect(cli.stdout).toContain('Dry run: would create 4');
    expect(cli.stdout).toMatch(/create\s+@alice:localhost \(Alice Martin\)/);
    expect(cli.stdout).toMatch(/group cellule-crise: \+ @alice:localhost, @bob:localhost/);
    expect(await userRow(u('alice'))).toBeUndefined();
  }, 180_000);

  it('new hires: accounts, profiles, contacts, groups and rooms', async () => {
    const res = await sync();
    expect(res).toMatchObject({ dry_run: false, created: 4, updated: 0, suspended: 0, deprovisioned: 0 });
    expect(res.errors).toEqual([]);
    expect((await userRow(u('alice')))?.displayname).toBe('Alice Martin');
    const contacts = await admin.api.get(`/_tocsin/v1/admin/users/${enc(u('alice'))}/contacts`);
    expect(contacts.body).toMatchObject({ email: 'alice@example.org', phone: '+33612345678', language: 'fr', source: 'ldap' });
    const bobContacts = await admin.api.get(`/_tocsin/v1/admin/users/${enc(u('bob'))}/contacts`);
    expect(bobContacts.body.phone).toBe('+33611111111');
    expect(await groupMembers('cellule-crise')).toEqual([u('alice'), u('bob')]);
    expect(await groupMembers('direction')).toEqual([u('carol'), u('dave')]);
    expect(await membershipIn(cellRoom, u('alice'))).toBe('join');
    expect(await membershipIn(cellRoom, u('bob'))).toBe('join');
    expect(await membershipIn(directionRoom, u('carol'))).toBe('join');
    expect(await userRow(u('erin'))).toBeUndefined();
    expect(await userRow(u('frank'))).toBeUndefined();
    // The same directory again: nothing to do.
    expect(await sync()).toMatchObject({ created: 0, updated: 0, suspended: 0, deprovisioned: 0, plan: { groups: [] } });
    // An alert to the group reaches its members.
    const alert = await admin.api.post('/_tocsin/v1/alerts', { severity: 'info', title: 'Test', body: 'Test', audience: ['group:cellule-crise'] });
    expect(alert.body.recipients).toBe(2);
  });

  it('a change of name and phone follows the directory', async () => {
    slapd.ldif(`dn: uid=alice,ou=people,${SUFFIX}\nchangetype: modify\nreplace: cn\ncn: Alice Durand\n-\nreplace: mobile\nmobile: +33 7 00 00 00 01\n`, 'modify');
    const res = await sync();
    expect(res).toMatchObject({ created: 0, updated: 1 });
    expect(res.plan.update).toEqual([{ user_id: u('alice'), display_name: 'Alice Durand', fields: ['display_name', 'phone'] }]);
    expect((await userRow(u('alice')))?.displayname).toBe('Alice Durand');
    const profile = await admin.api.get(`/_matrix/client/v3/profile/${enc(u('alice'))}`);
    expect(profile.body.displayname).toBe('Alice Durand');
    const contacts = await admin.api.get(`/_tocsin/v1/admin/users/${enc(u('alice'))}/contacts`);
    expect(contacts.body.phone).toBe('+33700000001');
  });

  it('moved out of a group: out of its audience and its rooms', async () => {
    slapd.ldif(`dn: cn=cellule-crise,ou=groups,${SUFFIX}\nchangetype: modify\ndelete: member\nmember: uid=bob,ou=people,${SUFFIX}\n`, 'modify');
    const res = await sync();
    expect(res.plan.groups).toEqual([{ group: 'cellule-crise', added: [], removed: [u('bob')] }]);
    expect(await groupMembers('cellule-crise')).toEqual([u('alice')]);
    expect(await membershipIn(cellRoom, u('bob'))).toBe('leave');
    expect(await membershipIn(cellRoom, u('alice'))).toBe('join');
    const alert = await admin.api.post('/_tocsin/v1/alerts', { severity: 'info', title: 'Test', body: 'Test', audience: ['group:cellule-crise'] });
    expect(alert.body.recipients).toBe(1);
    expect((await userRow(u('bob')))?.deactivated).toBe(false);
  });

  it('disabled in the directory: suspended, devices revoked, no alerts, no login, memberships kept', async () => {
    const session = await server.services.accounts.startSession(u('carol'), 'PHONE', 'Carol phone');
    const carol = new Api(server.url, session.access_token);
    expect((await carol.get('/_matrix/client/v3/account/whoami')).status).toBe(200);
    slapd.ldif(`dn: uid=carol,ou=people,${SUFFIX}\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n`, 'modify');
    const res = await sync();
    expect(res).toMatchObject({ suspended: 1, deprovisioned: 0 });
    expect(res.plan.suspend).toEqual([{ user_id: u('carol'), display_name: 'Carol Petit' }]);
    const row = await userRow(u('carol'));
    expect(row).toMatchObject({ suspended: true, deactivated: false });
    const refused = await carol.get('/_matrix/client/v3/account/whoami');
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN', soft_logout: false });
    expect(await membershipIn(directionRoom, u('carol'))).toBe('join');
    expect(await groupMembers('direction')).toEqual([u('carol'), u('dave')]);
    const alert = await admin.api.post('/_tocsin/v1/alerts', { severity: 'critical', title: 'Test', body: 'Test', audience: ['group:direction', u('carol')] });
    expect(alert.body.recipients).toBe(1); // dave only
    // Again: still suspended, nothing more to do.
    expect(await sync()).toMatchObject({ suspended: 0, updated: 0 });
  });

  it('removed from the directory: deprovisioned after the grace period', async () => {
    const session = await server.services.accounts.startSession(u('dave'), 'LAPTOP', undefined);
    slapd.ldif(`dn: uid=dave,ou=people,${SUFFIX}\nchangetype: delete\n`, 'modify');
    const first = await sync();
    expect(first).toMatchObject({ missing: 1, deprovisioned: 0 });
    expect((await userRow(u('dave')))?.deactivated).toBe(false);
    const second = await sync();
    expect(second).toMatchObject({ missing: 0, deprovisioned: 1 });
    expect(second.plan.deprovision).toEqual([{ user_id: u('dave'), display_name: 'Dave Roux' }]);
    expect((await userRow(u('dave')))?.deactivated).toBe(true);
    expect(await membershipIn(directionRoom, u('dave'))).toBe('leave');
    const content = (await admin.api.get(`/_matrix/client/v3/rooms/${enc(directionRoom)}/state/m.room.member/${enc(u('dave'))}`)).body;
    expect(content).toMatchObject({ membership: 'leave', reason: 'Removed from the directory' });
    expect(await groupMembers('direction')).toEqual([u('carol')]);
    expect((await new Api(server.url, session.access_token).get('/_matrix/client/v3/account/whoami')).body).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN', soft_logout: false });
  });

  it('re-hired and re-enabled: reactivated with their groups and rooms', async () => {
    slapd.ldif(person('dave', 'Dave Roux', { mobile: '+33 6 22 22 22 22' }), 'add');
    // The group still names dave's DN (slapd has no referential integrity here): he is back in it.
    slapd.ldif(`dn: uid=carol,ou=people,${SUFFIX}\nchangetype: modify\ndelete: employeeType\n`, 'modify');
    const res = await sync();
    expect(res).toMatchObject({ reactivated: 2, created: 0, suspended: 0, deprovisioned: 0 });
    expect(await userRow(u('dave'))).toMatchObject({ deactivated: false, suspended: false });
    expect(await userRow(u('carol'))).toMatchObject({ deactivated: false, suspended: false });
    expect(await groupMembers('direction')).toEqual([u('carol'), u('dave')]);
    expect(await membershipIn(directionRoom, u('dave'))).toBe('join');
  });

  it('the safety net: a large share leaving changes nothing, raises an admin alert, and can be forced', async () => {
    // 3 of 4 active accounts would vanish: over max_change_share (0.5).
    for (const uid of ['bob', 'carol', 'dave']) slapd.ldif(`dn: uid=${uid},ou=people,${SUFFIX}\nchangetype: delete\n`, 'modify');
    const res = await sync();
    expect(res.stopped).toMatch(/3 of 4 accounts/);
    expect(res).toMatchObject({ created: 0, updated: 0, suspended: 0, deprovisioned: 0, missing: 0 });
    expect(res.plan.missing).toHaveLength(3);
    const alerts = await admin.api.get('/_tocsin/v1/alerts');
    expect(alerts.body.alerts[0]).toMatchObject({ title: 'Directory sync stopped', severity: 'warning' });
    const cli = await tocsin(['directory', 'sync'], { TOCSIN_URL: server.url, TOCSIN_TOKEN: admin.token });
    expect(cli.status).toBe(3);
    expect(cli.stdout).toContain('STOPPED');
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    const forced = await sync({ force: true });
    expect(forced.stopped).toBeUndefined();
    expect(forced).toMatchObject({ forced: true, missing: 3 });
    slapd.ldif([person('bob', 'Bob Bernard', { mail: 'bob@example.org', mobile: '+33 6 11 11 11 11' }), person('carol', 'Carol Petit', { mail: 'carol@example.org' }), person('dave', 'Dave Roux', { mobile: '+33 6 22 22 22 22' })].join('\n'));
    expect(await sync()).toMatchObject({ missing: 0, deprovisioned: 0 });
  }, 180_000);

  it('the safety net: slapd down changes nothing', async () => {
    await slapd.stop();
    try {
      const res = await sync();
      expect(res.stopped).toMatch(/^LDAP error/);
      expect(res).toMatchObject({ created: 0, suspended: 0, deprovisioned: 0 });
      expect((await userRow(u('alice')))?.deactivated).toBe(false);
      // Not even forced: without an answer from the directory everyone would look gone.
      const forced = await sync({ force: true });
      expect(forced.stopped).toMatch(/^LDAP error/);
      expect(forced).toMatchObject({ missing: 0, deprovisioned: 0 });
      const cli = await tocsin(['directory', 'sync', '--json'], { TOCSIN_URL: server.url, TOCSIN_TOKEN: admin.token });
      expect(cli.status).toBe(3);
      expect(JSON.parse(cli.stdout).stopped).toMatch(/^LDAP error/);
    } finally {
      await slapd.start();
    }
  }, 180_000);

  it('keeps a report of every run, readable through the admin API', async () => {
    const runs = await admin.api.get('/_tocsin/v1/admin/directory/runs?limit=100');
    expect(runs.status).toBe(200);
    expect(runs.body.runs.length).toBeGreaterThan(8);
    const stopped = runs.body.runs.find((r: { stopped: string | null }) => r.stopped?.startsWith('LDAP error'));
    expect(stopped).toBeDefined();
    const one = await admin.api.get(`/_tocsin/v1/admin/directory/runs/${stopped.run_id}`);
    expect(one.body).toMatchObject({ run_id: stopped.run_id, stopped: stopped.stopped, trigger: 'api', requested_by: admin.userId });
    expect((await admin.api.get('/_tocsin/v1/admin/directory/runs/999999')).body.errcode).toBe('M_NOT_FOUND');
    expect((await admin.api.get('/_tocsin/v1/admin/directory/runs/abc')).body.errcode).toBe('M_NOT_FOUND');
  });
});

describe('LDAP safety net on a bad configuration', () => {
  let slapd: Slapd;
  const cleanups: Array<() => void> = [];

  beforeAll(async () => {
    slapd = await startSlapd(SUFFIX);
    slapd.ldif(person('zoe', 'Zoe Noir'));
  }, 30_000);
  afterAll(async () => {
    await closeAllTestServers();
    await slapd?.close();
    for (const c of cleanups) c();
  });

  it.each([
    ['an empty search base', { base_dn: `ou=empty,${SUFFIX}` }, /empty result/],
    ['a search base that does not exist', { base_dn: `ou=nowhere,${SUFFIX}` }, /^LDAP error/],
    ['a filter typo', { user_filter: '(objectClass=inetOrgPerson' }, /^LDAP error/],
    ['a wrong bind password', { bind_password_file: undefined, bind_password: 'wrong' }, /^LDAP error.*(code 49|credentials)/i],
  ])('%s stops the run', async (_what, ldap, reason) => {
    const cfg = directoryConfigFile(slapd, ldap);
    cleanups.push(cfg.cleanup);
    const server = await startTestServer(cfg.env);
    const admin = await registerAdmin(server.url, 'dsi');
    const res = await admin.api.post('/_tocsin/v1/admin/directory/sync', {});
    expect(res.status).toBe(200);
    expect(res.body.stopped).toMatch(reason);
    expect(res.body.created).toBe(0);
    expect(await server.services.accounts.getUser('@zoe:localhost')).toBeUndefined();
    await server.close();
  });
});
