import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../support/client.ts';
import { makeDatabase, testDatabaseKind } from '../support/server.ts';

const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function tocsin(args: string[], env: Record<string, string>, input?: string) {
  const res = spawnSync(process.execPath, ['src/cli/main.ts', ...args], {
    cwd: serverDir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'silent', ...env },
    input,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** The same, without blocking the event loop (the test holds a socket open meanwhile). */
function tocsinAsync(args: string[], env: Record<string, string>): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['src/cli/main.ts', ...args], {
    cwd: serverDir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stderr })));
}

describe('tocsin CLI', () => {
  let database: Awaited<ReturnType<typeof makeDatabase>>;

  beforeAll(async () => {
    database = await makeDatabase(testDatabaseKind());
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('creates, lists and deactivates users', () => {
    const pwFile = path.join(database.dataDir, 'pw');
    writeFileSync(pwFile, 'Sésame ouvre-toi\n');
    const created = tocsin(['user', 'create', 'Chef', '--admin', '--password-file', pwFile], database.env);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    expect(created.stdout.trim()).toBe('@chef:localhost');

    const piped = tocsin(['user', 'create', 'agent'], database.env, 'from-stdin\n');
    expect(piped.status).toBe(0);

    const again = tocsin(['user', 'create', 'chef', '--password-file', pwFile], database.env);
    expect(again.status).not.toBe(0);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/already taken/);

    const list = tocsin(['user', 'list', '--json'], database.env);
    expect(list.status).toBe(0);
    const users = list.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(users).toEqual([
      expect.objectContaining({ user_id: '@agent:localhost', admin: false, deactivated: false }),
      expect.objectContaining({ user_id: '@chef:localhost', admin: true, deactivated: false }),
    ]);

    const gone = tocsin(['user', 'deactivate', 'agent'], database.env);
    expect(gone.status).toBe(0);
    const after = tocsin(['user', 'list'], database.env);
    expect(after.stdout).toMatch(/@agent:localhost\tdeactivated/);

    const unknown = tocsin(['user', 'deactivate', 'nobody'], database.env);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toMatch(/no such user/);
    // Seven processes, each opening the database: slow on a loaded machine, not a hang.
  }, 240_000);

  it('stops with one line naming a bad variable', () => {
    const res = tocsin(['serve'], { ...database.env, PORT: 'not-a-port' });
    expect(res.status).not.toBe(0);
    expect(res.stderr.trim()).toMatch(/^tocsin: configuration: PORT: /);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('stops with one line when PORT is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '::', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const res = await tocsinAsync(['serve'], { ...database.env, PORT: String(port) });
      expect(res.status).not.toBe(0);
      expect(res.stderr.trim()).toBe(`tocsin: PORT ${port} is already in use`);
    } finally {
      taken.close();
    }
    // The database it opened was released: the next command can open it.
    expect(tocsin(['user', 'list'], database.env).status).toBe(0);
  }, 240_000);

  it('rejects bad user names and empty passwords in one line', () => {
    const bad = tocsin(['user', 'create', 'Robert"); DROP TABLE users;--'], database.env, 'pw\n');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const empty = tocsin(['user', 'create', 'empty'], database.env, '\n');
    expect(empty.status).not.toBe(0);
    expect(empty.stderr).toMatch(/password is empty/);
  });

  it('lets a created account log in to the server', async () => {
    const { startServer } = await import('../../src/server.ts');
    const { loadConfig } = await import('../../src/config/config.ts');
    const { createLogger } = await import('../../src/logger.ts');
    const server = await startServer(loadConfig({ ...database.env, PORT: '0', RATE_LIMITS: 'off' }), createLogger('silent'));
    try {
      const res = await new Api(server.url).post('/_matrix/client/v3/login', {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: 'chef' },
        password: 'Sésame ouvre-toi',
      });
      expect(res.status).toBe(200);
      expect(res.body.user_id).toBe('@chef:localhost');
      // The embedded database has one owner while the server runs.
      if (testDatabaseKind() === 'pglite') {
        const locked = tocsin(['user', 'list'], database.env);
        expect(locked.status).not.toBe(0);
        expect(locked.stderr).toMatch(/in use by process/);
      }
    } finally {
      await server.close();
    }
  });
});
