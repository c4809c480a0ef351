// A lost or stolen phone: an administrator lists the person's devices and revokes one or all.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

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

describe('lost device: admin listing and revocation', () => {
  let server: TestServer;
  let admin: TestUser;
  let alice: TestUser;
  let phone: Api;

  beforeAll(async () => {
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'dsi');
    alice = await registerUser(server.url, 'alice', 'alice password');
    const login = await new Api(server.url).post('/_matrix/client/v3/login', {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: 'alice' },
      password: 'alice password',
      device_id: 'PHONE',
      initial_device_display_name: 'Téléphone',
    });
    phone = new Api(server.url, login.body.access_token);
  }, 60_000);
  afterAll(closeAllTestServers);

  const devicesPath = (userId: string) => `/_tocsin/v1/admin/users/${enc(userId)}/devices`;

  it('is for server administrators only', async () => {
    const res = await alice.api.get(devicesPath(admin.userId));
    expect(res.status).toBe(403);
    expect((await alice.api.delete(`${devicesPath(admin.userId)}/${enc(admin.deviceId)}`)).status).toBe(403);
    expect((await admin.api.get(devicesPath('@nobody:localhost'))).body.errcode).toBe('M_NOT_FOUND');
  });

  it('lists the devices and revokes one: that client is logged out for good, the other goes on', async () => {
    const list = await admin.api.get(devicesPath(alice.userId));
    expect(list.status).toBe(200);
    expect(list.body.devices.map((d: { device_id: string }) => d.device_id).sort()).toEqual([alice.deviceId, 'PHONE'].sort());
    expect(list.body.devices.find((d: { device_id: string }) => d.device_id === 'PHONE').display_name).toBe('Téléphone');

    const revoked = await admin.api.delete(`${devicesPath(alice.userId)}/PHONE`);
    expect(revoked.body).toEqual({ revoked: ['PHONE'] });
    const refused = await phone.get('/_matrix/client/v3/account/whoami');
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ errcode: 'M_UNKNOWN_TOKEN', error: expect.any(String), soft_logout: false });
    expect((await alice.api.get('/_matrix/client/v3/account/whoami')).status).toBe(200);
    expect((await admin.api.delete(`${devicesPath(alice.userId)}/PHONE`)).body.errcode).toBe('M_NOT_FOUND');
    expect((await admin.api.delete(`${devicesPath(alice.userId)}/${enc("x'; DROP TABLE devices;--")}`)).status).toBe(404);
  });

  it('the CLI lists and revokes every device', async () => {
    const env = { TOCSIN_URL: server.url, TOCSIN_TOKEN: admin.token };
    const list = await tocsin(['device', 'list', alice.userId], env);
    expect(list.stderr).toBe('');
    expect(list.stdout).toContain(alice.deviceId);
    const both = await tocsin(['device', 'revoke', alice.userId], env);
    expect(both.status).not.toBe(0);
    expect(both.stderr.trim().split('\n')).toHaveLength(1);
    const all = await tocsin(['device', 'revoke', alice.userId, '--all'], env);
    expect(all.status).toBe(0);
    expect(all.stdout).toBe(`1 device revoked: ${alice.deviceId}\n`);
    expect((await alice.api.get('/_matrix/client/v3/account/whoami')).body).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN', soft_logout: false });
    expect((await admin.api.get(devicesPath(alice.userId))).body.devices).toEqual([]);
    // Three CLI processes: slow on a loaded machine, not a hang.
  }, 240_000);
});
