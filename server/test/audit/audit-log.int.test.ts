// The audit log: every administrative read of someone else's data and every device revocation
// leaves a row, readable by administrators (API and CLI), page by page, newest first.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, registerAdmin, registerUser, type TestUser } from '../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../support/server.ts';

const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

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

interface Entry {
  audit_id: number;
  ts: number;
  actor: string;
  action: string;
  target_user: string | null;
  details: Record<string, unknown>;
}

describe('audit log', () => {
  let server: TestServer;
  let admin: TestUser;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'dsi');
    alice = await registerUser(server.url, 'alice', 'alice password');
    bob = await registerUser(server.url, 'bob', 'bob password');
    await new Api(server.url).post('/_matrix/client/v3/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'alice password', device_id: 'PHONE' });
  }, 60_000);
  afterAll(closeAllTestServers);

  const audit = async (query = '') => {
    const res = await admin.api.get(`/_tocsin/v1/admin/audit${query}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { entries: Entry[]; next_batch?: string };
  };

  it('is for server administrators only, and refuses bad paging with a Matrix error', async () => {
    const res = await alice.api.get('/_tocsin/v1/admin/audit');
    expect(res.status).toBe(403);
    expect(res.body.errcode).toBe('M_FORBIDDEN');
    expect((await new Api(server.url).get('/_tocsin/v1/admin/audit')).status).toBe(401);
    for (const q of ['?limit=0', '?limit=abc', '?limit=5000', '?from=xyz']) {
      const bad = await admin.api.get(`/_tocsin/v1/admin/audit${q}`);
      expect(bad.status, q).toBe(400);
      expect(bad.body.errcode).toBe('M_INVALID_PARAM');
    }
  });

  it('records reads of devices and contacts, and each revoked device', async () => {
    expect((await admin.api.get(`/_tocsin/v1/admin/users/${enc(alice.userId)}/devices`)).status).toBe(200);
    await admin.api.put(`/_tocsin/v1/admin/users/${enc(bob.userId)}/contacts`, { email: 'bob@example.org' });
    expect((await admin.api.get(`/_tocsin/v1/admin/users/${enc(bob.userId)}/contacts`)).body.email).toBe('bob@example.org');
    expect((await admin.api.delete(`/_tocsin/v1/admin/users/${enc(alice.userId)}/devices/PHONE`)).body).toEqual({ revoked: ['PHONE'] });
    expect((await admin.api.delete(`/_tocsin/v1/admin/users/${enc(alice.userId)}/devices`)).body.revoked).toEqual([alice.deviceId]);
    // An administrator reading their own devices reads nobody else's data.
    expect((await admin.api.get(`/_tocsin/v1/admin/users/${enc(admin.userId)}/devices`)).status).toBe(200);

    const { entries } = await audit();
    const mine = entries.filter((e) => e.action !== 'audit.read').map((e) => [e.actor, e.action, e.target_user, e.details]);
    expect(mine).toEqual([
      [admin.userId, 'device.revoke', alice.userId, { device_id: alice.deviceId, all: true }],
      [admin.userId, 'device.revoke', alice.userId, { device_id: 'PHONE', all: false }],
      [admin.userId, 'contacts.read', bob.userId, { found: true }],
      [admin.userId, 'devices.read', alice.userId, { devices: 2 }],
    ]);
    expect(entries.every((e) => typeof e.ts === 'number' && e.ts > 0)).toBe(true);
  });

  it('records an administrator reading the details of someone else\'s upload', async () => {
    const up = await fetch(`${server.url}/_matrix/media/v3/upload`, { method: 'POST', headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'text/plain' }, body: 'hello' });
    const mxc = ((await up.json()) as { content_uri: string }).content_uri;
    const info = await admin.api.get(`/_tocsin/v1/admin/media/${mxc.slice('mxc://'.length)}`);
    expect(info.body.user_id).toBe(bob.userId);
    const { entries } = await audit(`?action=media.read`);
    expect(entries.map((e) => [e.actor, e.target_user, e.details])).toEqual([[admin.userId, bob.userId, { media_id: mxc.slice('mxc://localhost/'.length) }]]);
  });

  it('pages newest first, filters by person, and audits its own reads', async () => {
    const first = await audit('?limit=2');
    expect(first.entries).toHaveLength(2);
    expect(first.entries[0]!.audit_id).toBeGreaterThan(first.entries[1]!.audit_id);
    // The read just made is the newest entry.
    expect(first.entries[0]).toMatchObject({ actor: admin.userId, action: 'audit.read' });
    expect(first.next_batch).toBeDefined();
    const second = await audit(`?limit=2&from=${first.next_batch}`);
    expect(second.entries[0]!.audit_id).toBeLessThan(first.entries[1]!.audit_id);

    const aboutAlice = await audit(`?user=${enc(alice.userId)}&action=device.revoke`);
    expect(aboutAlice.entries.map((e) => e.details.device_id)).toEqual([alice.deviceId, 'PHONE']);
    expect(aboutAlice.next_batch).toBeUndefined();
    const aboutNobody = await audit(`?user=${enc('@nobody:localhost')}`);
    expect(aboutNobody.entries).toEqual([]);
  });

  it('tocsin audit list prints the entries', async () => {
    const env = { TOCSIN_URL: server.url, TOCSIN_TOKEN: admin.token };
    const out = await tocsin(['audit', 'list', '--user', bob.userId], env);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(new RegExp(`\\t${admin.userId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\tcontacts\\.read\\t${bob.userId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\t`));
    const bad = await tocsin(['audit', 'list', '--limit', '0'], env);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('M_INVALID_PARAM');
  }, 120_000);
});
