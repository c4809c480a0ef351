import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// Asynchronous: the server under test runs in this same process and must keep answering.
function tocsin(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args], { cwd: serverDir, env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('tocsin alert (CLI)', () => {
  let server: TestServer;
  let admin: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'cli-admin');
    bob = await registerUser(server.url, 'cli-bob');
    await admin.api.put('/_tocsin/v1/admin/groups/cellule', { members: [bob.userId] });
  });
  afterAll(closeAllTestServers);

  it('sends an alert and shows its status', async () => {
    const env = { TOCSIN_URL: server.url, TOCSIN_TOKEN: admin.token };
    const sent = await tocsin(['alert', 'send', '--to', 'group:cellule', '--severity', 'critical', 'Incendie: évacuez le bâtiment C'], env);
    expect(sent.stderr).toBe('');
    expect(sent.status).toBe(0);
    const [alertId, count] = sent.stdout.trim().split('\t');
    expect(alertId).toMatch(/^al_/);
    expect(count).toBe('1 recipients');

    const status = await tocsin(['alert', 'status', alertId!, '--json'], env);
    expect(status.status).toBe(0);
    const body = JSON.parse(status.stdout);
    expect(body).toMatchObject({ alert_id: alertId, severity: 'critical', title: 'Incendie', body: 'évacuez le bâtiment C' });
    expect(body.recipients[0].user_id).toBe(bob.userId);

    const table = await tocsin(['alert', 'status', alertId!], env);
    expect(table.stdout).toContain(bob.userId);
  });

  it('sends from a template and lists the templates', async () => {
    const env = { TOCSIN_URL: server.url, TOCSIN_TOKEN: admin.token };
    const put = await admin.api.put('/_tocsin/v1/alert_templates/essai', { severity: 'info', title: 'Essai', body: 'Essai des sirènes.', audience: ['group:cellule'] });
    expect(put.status).toBe(200);
    const listed = await tocsin(['alert', 'templates'], env);
    expect(listed.status).toBe(0);
    expect(listed.stdout.trim()).toBe('essai\tinfo\tEssai');
    const sent = await tocsin(['alert', 'send', '--template', 'essai', '--json'], env);
    expect(sent.stderr).toBe('');
    const { alert_id: alertId } = JSON.parse(sent.stdout);
    expect((await admin.api.get(`/_tocsin/v1/alerts/${alertId}`)).body).toMatchObject({ severity: 'info', title: 'Essai', body: 'Essai des sirènes.' });
    const unknown = await tocsin(['alert', 'send', '--template', 'nope'], env);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    const nothing = await tocsin(['alert', 'send'], env);
    expect(nothing.status).not.toBe(0);
    expect(nothing.stderr).toMatch(/TEXT or --template/);
  });

  it('fails in one line without a token, with a bad token, or against no server', async () => {
    const noToken = await tocsin(['alert', 'status', 'al_x'], { TOCSIN_URL: server.url });
    expect(noToken.status).not.toBe(0);
    expect(noToken.stderr.trim().split('\n')).toHaveLength(1);
    const badToken = await tocsin(['alert', 'status', 'al_x'], { TOCSIN_URL: server.url, TOCSIN_TOKEN: 'forged' });
    expect(badToken.stderr).toMatch(/M_UNKNOWN_TOKEN/);
    const forbidden = await tocsin(['alert', 'send', '--to', 'group:cellule', 'x'], { TOCSIN_URL: server.url, TOCSIN_TOKEN: bob.token });
    expect(forbidden.status).not.toBe(0);
    expect(forbidden.stderr).toMatch(/M_FORBIDDEN/);
    const down = await tocsin(['alert', 'status', 'al_x'], { TOCSIN_URL: 'http://127.0.0.1:9', TOCSIN_TOKEN: 't' });
    expect(down.stderr).toMatch(/cannot reach the server/);
  });
});
