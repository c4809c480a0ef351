import type { Knex } from 'knex';

/** Names of the statements prepared so far, by their text (a few: one per shape of query). */
const names = new Map<string, string>();

/**
 * A raw query that PostgreSQL plans once per connection: the statements a long-poll runs on
 * every wake-up are large (a dozen subqueries) and cheap to execute, so planning them again for
 * every answer cost more of the database's CPU than running them (1.4 ms against 0.6 ms for the
 * sync overview). pg prepares a named statement on each connection the first time it is used
 * there. PGlite, and a query inside a transaction, go through knex as usual.
 * The statement is announced like any knex query ('query' event), for logs and tests.
 */
export async function preparedRaw(db: Knex, sql: string, bindings: readonly Knex.RawBinding[]): Promise<{ rows: unknown[] }> {
  if (db.client.config.client !== 'pg' || db.isTransaction) return db.raw(sql, bindings);
  const native = db.raw(sql, bindings).toSQL().toNative();
  let name = names.get(native.sql);
  if (name === undefined) {
    name = `tocsin_${names.size + 1}`;
    names.set(native.sql, name);
  }
  const client = db.client as Knex.Client & { acquireConnection(): Promise<PgConnection>; releaseConnection(c: PgConnection): Promise<void> };
  const conn = await client.acquireConnection();
  try {
    client.emit('query', { method: 'raw', sql: native.sql, bindings: native.bindings });
    return await conn.query({ name, text: native.sql, values: native.bindings as unknown[] });
  } finally {
    await client.releaseConnection(conn);
  }
}

interface PgConnection {
  query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}
