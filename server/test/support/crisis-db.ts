import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { inject } from 'vitest';
import { openDatabase } from '../../src/storage/db.ts';
import { insertUser } from '../../src/storage/users.ts';

// A migrated database for repository tests, without a server: a copy of the PGlite template
// that global-setup builds, or a fresh PostgreSQL database when TEST_DATABASE_URL is set.

export interface TestDb {
  db: Knex;
  dataDir: string;
  close(): Promise<void>;
}

export async function openTestDb(): Promise<TestDb> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tocsin-crisis-db-'));
  const base = process.env.TOCSIN_TEST_DB === 'postgres' ? process.env.TEST_DATABASE_URL : undefined;
  if (!base) cpSync(inject('pgliteTemplate'), dataDir, { recursive: true });
  let databaseUrl: string | undefined;
  let drop = async () => undefined;
  if (base) {
    const pg = (await import('pg')).default;
    const name = `tocsin_c_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(base);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    drop = async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
  }
  const database = await openDatabase({ dataDir, databaseUrl });
  return {
    db: database.db,
    dataDir,
    close: async () => {
      await database.close();
      await drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function addTestUser(db: Knex, userId: string): Promise<void> {
  const localpart = userId.slice(1, userId.indexOf(':'));
  await insertUser(db, { user_id: userId, localpart, password_hash: null, admin: false, displayname: localpart, avatar_url: null, created_ts: Date.now() });
}
