/**
 * Media garbage collection cost, in process on a fresh database (BENCH_DB=pglite|postgres):
 * BENCH_BLOBS files referenced by media rows (default 2,000), as many unreferenced files older
 * than the grace period, and BENCH_RESERVATIONS expired POST /create reservations (default
 * 1,000). One run removes the orphans and the reservations; a second run finds nothing. Reports
 * wall time and this process's CPU per blob examined (the database's own CPU is not included
 * on PostgreSQL), and the load average.
 * Run: sh scripts/node.sh server/bench/media-gc.ts   Writes bench/results/media-gc[-postgres].{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { utimes } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { FsBlobStore } from '../src/matrix/media/blob-store.ts';
import { MediaGc } from '../src/matrix/media/media-gc.ts';
import { createLogger } from '../src/logger.ts';
import { openDatabase } from '../src/storage/db.ts';
import { insertReservation, insertUploaded } from '../src/storage/media.ts';
import { insertUser } from '../src/storage/users.ts';
import { benchSetting, freshDatabase } from './support.ts';

const kind = benchSetting('BENCH_DB', 'pglite') === 'postgres' ? 'postgres' : 'pglite';
const blobs = Number(benchSetting('BENCH_BLOBS', '2000'));
const reservations = Number(benchSetting('BENCH_RESERVATIONS', '1000'));
const pgUrl = benchSetting('BENCH_PG_URL', 'postgres://postgres@127.0.0.1:5432/test');
const HOUR = 3600_000;

const fresh = await freshDatabase(kind, pgUrl);
const dataDir = fresh.env.DATA_DIR!;
const database = await openDatabase({ dataDir, databaseUrl: fresh.env.DATABASE_URL });
const db = database.db;
try {
  const store = new FsBlobStore(path.join(dataDir, 'media'));
  await store.init();
  const userId = '@bench:localhost';
  await insertUser(db, { user_id: userId, localpart: 'bench', password_hash: null, admin: false, displayname: 'bench', avatar_url: null, created_ts: Date.now() });
  const old = new Date(Date.now() - 2 * HOUR);
  const setup0 = performance.now();
  for (let i = 0; i < 2 * blobs; i++) {
    const blob = await store.put(Readable.from([Buffer.from(`blob ${i} ${'x'.repeat(i % 4096)}`)]), 1 << 20);
    await utimes(path.join(dataDir, 'media', blob.sha256.slice(0, 2), blob.sha256.slice(2, 4), blob.sha256), old, old);
    // Even ones are used by a URI, odd ones are orphans.
    if (i % 2 === 0) await insertUploaded(db, `m${i}`, userId, { contentType: 'text/plain', uploadName: null, size: blob.size, sha256: blob.sha256 }, Date.now());
  }
  for (let i = 0; i < reservations; i++) await insertReservation(db, `r${i}`, userId, Date.now() - 2 * HOUR, Date.now() - HOUR);
  const setupS = (performance.now() - setup0) / 1000;

  const gc = new MediaGc(db, store, createLogger('silent'), { blobGraceMs: HOUR });
  const load = loadavg()[0]!;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const first = await gc.run();
  const firstMs = performance.now() - t0;
  const cpu1 = process.cpuUsage(cpu0);
  const t1 = performance.now();
  const second = await gc.run();
  const secondMs = performance.now() - t1;
  const cpu2 = process.cpuUsage(cpu0);
  if (first.removedBlobs !== blobs || first.expiredReservations !== reservations || second.removedBlobs !== 0) throw new Error(`unexpected result ${JSON.stringify({ first, second })}`);

  const cpuFirstMs = (cpu1.user + cpu1.system) / 1000;
  const cpuSecondMs = (cpu2.user + cpu2.system) / 1000 - cpuFirstMs;
  const result = {
    db: kind,
    blobs_examined: 2 * blobs,
    reservations,
    first_run: { ...first, wall_ms: Math.round(firstMs), cpu_ms: Math.round(cpuFirstMs), cpu_us_per_blob: Math.round((cpuFirstMs * 1000) / (2 * blobs)) },
    second_run: { ...second, wall_ms: Math.round(secondMs), cpu_ms: Math.round(cpuSecondMs), cpu_us_per_blob: Math.round((cpuSecondMs * 1000) / blobs) },
    setup_s: Math.round(setupS),
    load_average_1m: Number(load.toFixed(2)),
  };
  console.log(JSON.stringify(result, null, 2));
  const out = path.join(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  const name = kind === 'postgres' ? 'media-gc-postgres' : 'media-gc';
  writeFileSync(path.join(out, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    path.join(out, `${name}.md`),
    [
      `# Media garbage collection (${kind})`,
      '',
      `${2 * blobs} files (${blobs} referenced, ${blobs} orphans older than the grace period), ${reservations} expired reservations. Load average (1 min) at start: ${result.load_average_1m}.`,
      '',
      '| run | removed files | expired reservations | wall ms | CPU ms (this process) | CPU µs per file |',
      '|---|---|---|---|---|---|',
      `| first | ${first.removedBlobs} | ${first.expiredReservations} | ${result.first_run.wall_ms} | ${result.first_run.cpu_ms} | ${result.first_run.cpu_us_per_blob} |`,
      `| second (nothing to do) | 0 | 0 | ${result.second_run.wall_ms} | ${result.second_run.cpu_ms} | ${result.second_run.cpu_us_per_blob} |`,
      '',
    ].join('\n'),
  );
} finally {
  await database.close();
  await fresh.drop();
}
