import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer, type RunningServer } from '../../src/server.ts';

export type TestDatabase = 'pglite' | 'postgres';

export function testDatabaseKind(): TestDatabase {
  return process.env.TOCSIN_TEST_DB === 'postgres' ? 'postgres' : 'pglite';
}

export interface TestServer extends RunningServer {
  config: Config;
  /** Stops the server; keeps its database unless `drop` (used by restart tests). */
  stop(): Promise<void>;
  /** Starts a new server on the same database and data directory. */
  restart(): Promise<TestServer>;
  /** Environment that starts another process on the same database. */
  env: Record<string, string>;
}

/** A throwaway PostgreSQL database (created from TEST_DATABASE_URL) or PGlite data directory. */
export async function makeDatabase(kind: TestDatabase): Promise<{ env: Record<string, string>; dataDir: string; drop(): Promise<void> }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tocsin-test-'));
  if (kind === 'pglite') {
    cpSync(inject('pgliteTemplate'), dataDir, { recursive: true });
    return { env: { DATA_DIR: dataDir }, dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set');
  const name = `tocsin_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    env: { DATA_DIR: dataDir, DATABASE_URL: url.toString() },
    dataDir,
    drop: async () => {
      rmSync(dataDir, { recursive: true, force: true });
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

const servers = new Set<() => Promise<void>>();

/** Starts a real server on a fresh database of the kind this test project runs on. */
export async function startTestServer(extraEnv: Record<string, string> = {}, options: { shareDatabaseOf?: TestServer } = {}): Promise<TestServer> {
  const shared = options.shareDatabaseOf;
  const sharedUrl = shared?.env.DATABASE_URL;
  if (shared && !sharedUrl) throw new Error('only PostgreSQL databases can be shared by two servers');
  // A second process on the same database: same data, and the first one drops it.
  const database =
    shared && sharedUrl
      ? { env: { DATA_DIR: shared.env.DATA_DIR!, DATABASE_URL: sharedUrl }, drop: async () => undefined }
      : await makeDatabase(testDatabaseKind());
  const env = {
    PORT: '0',
    SERVER_NAME: 'localhost',
    ENABLE_REGISTRATION: 'true',
    REGISTRATION_SHARED_SECRET: 'test-shared-secret',
    RATE_LIMITS: 'off',
    LOG_LEVEL: process.env.TOCSIN_TEST_LOG ?? 'silent',
    ...database.env,
    ...extraEnv,
  };
  const launch = async (): Promise<TestServer> => {
    const config = loadConfig(env);
    const running = await startServer(config, createLogger(config.logLevel));
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await running.close();
    };
    const cleanup = async () => {
      await stop();
      await database.drop();
    };
    servers.add(cleanup);
    return {
      ...running,
      config,
      env,
      stop,
      close: async () => {
        servers.delete(cleanup);
        await cleanup();
      },
      restart: async () => {
        servers.delete(cleanup);
        await stop();
        return launch();
      },
    };
  };
  return launch();
}

/** Closes every test server still running (for afterAll hooks). */
export async function closeAllTestServers(): Promise<void> {
  for (const close of [...servers]) {
    servers.delete(close);
    await close();
  }
}
