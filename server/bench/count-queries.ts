/**
 * Preloaded into the server by request-cost.ts (node --import): counts the statements the
 * server sends to its database (round trips), and writes the count to BENCH_QUERY_COUNT_FILE
 * when the process gets SIGUSR2. Bench only: the server itself never loads this.
 */
import { renameSync, writeFileSync } from 'node:fs';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';

let count = 0;
const pgQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  count++;
  return (pgQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

const lite = (ClientPgLite as unknown as { prototype: { _query: (...a: unknown[]) => unknown } }).prototype;
const liteQuery = lite._query;
lite._query = function (this: unknown, ...args: unknown[]) {
  count++;
  return liteQuery.apply(this, args);
};

const file = process.env.BENCH_QUERY_COUNT_FILE;
// Written aside then renamed: a reader never sees a half-written number.
if (file) {
  process.on('SIGUSR2', () => {
    writeFileSync(`${file}.tmp`, String(count));
    renameSync(`${file}.tmp`, file);
  });
}
