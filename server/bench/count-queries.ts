/**
 * Preloaded into the server by request-cost.ts (node --import): counts the statements the
 * server sends to its database (round trips), and writes the count to BENCH_QUERY_COUNT_FILE
 * when the process gets SIGUSR2. Bench only: the server itself never loads this.
 */
import { renameSync, writeFileSync } from 'node:fs';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';

let count = 0;
/** With BENCH_QUERY_HISTOGRAM set, statements are also counted by their first words (to find which ones a request makes). */
const histogram = process.env.BENCH_QUERY_HISTOGRAM ? new Map<string, number>() : undefined;
function note(args: unknown[]): void {
  count++;
  if (!histogram) return;
  const first = args[0] as string | { text?: string; sql?: string } | undefined;
  const text = typeof first === 'string' ? first : (first?.text ?? first?.sql ?? '?');
  const key = text.replace(/\s+/g, ' ').slice(0, 90);
  histogram.set(key, (histogram.get(key) ?? 0) + 1);
}
const pgQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  note(args);
  return (pgQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

const lite = (ClientPgLite as unknown as { prototype: { _query: (...a: unknown[]) => unknown } }).prototype;
const liteQuery = lite._query;
lite._query = function (this: unknown, ...args: unknown[]) {
  note(args.slice(1));
  return liteQuery.apply(this, args);
};

const file = process.env.BENCH_QUERY_COUNT_FILE;
// Written aside then renamed: a reader never sees a half-written number.
if (file) {
  process.on('SIGUSR2', () => {
    if (histogram) {
      writeFileSync(`${file}.histogram`, [...histogram].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}\t${k}`).join('\n') + '\n');
      histogram.clear();
    }
    writeFileSync(`${file}.tmp`, String(count));
    renameSync(`${file}.tmp`, file);
  });
}
