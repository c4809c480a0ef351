import { mkdirSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';
import { migrationSource } from './migrations/index.ts';

export type Db = Knex;

// BIGINT columns (stream positions, timestamps) stay below 2^53: read them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface DatabaseOptions {
  /** postgres://... for PostgreSQL; otherwise the embedded PGlite database in dataDir. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** Pool size for PostgreSQL (PGlite is always one connection). */
  poolSize?: number;
}

export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  close(): Promise<void>;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  let db: Knex;
  let kind: Database['kind'];
  if (options.databaseUrl) {
    kind = 'postgres';
    db = knexFactory({
      client: 'pg',
      connection: options.databaseUrl,
      pool: { min: 1, max: options.poolSize ?? 10 },
    });
  } else {
    kind = 'pglite';
    const dir = path.join(options.dataDir, 'db');
    mkdirSync(dir, { recursive: true });
    db = knexFactory({ client: ClientPgLite as unknown as typeof Knex.Client, dialect: 'postgres', connection: { filename: dir } });
  }
  try {
    await db.migrate.latest({ migrationSource });
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw err;
  }
  return { db, kind, close: () => db.destroy() };
}
