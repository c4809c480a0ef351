/**
 * Cost of one request on the hot paths, measured on the server rather than as latency (which a
 * shared, loaded machine makes noisy): server CPU time (utime + stime of the server process,
 * from /proc; with PGlite the database runs inside it) and database round trips (statements
 * the server sends, counted by bench/count-queries.ts preloaded into it), per request.
 *
 *   sh scripts/node.sh server/bench/request-cost.ts [--db=postgres|pglite|both] [--count=300]
 *
 * Kinds of request (each `count` times, after a warm-up):
 *   versions   GET /versions (the middleware stack alone)
 *   sync0      incremental /sync with nothing new (timeout=0)
 *   send       PUT /send, one client, one after another
 *   send+sync  a send, then the incremental sync that carries it
 *   send x20   20 clients in 20 rooms sending at once (group commit), per send
 *   wake       200 syncs long-polling in 20 rooms of 10; per send, the send and the 9 sync
 *              answers it causes (with the 9 syncs that then wait again)
 * Writes bench/results/request-cost.{json,md} (BENCH_OUT to change).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchSetting as setting, call, cpuSecondsOf, databaseBackendsCpuSeconds, freshDatabase, makeAgent, pool, serverDir, sleep, startServerProcess, type ServerProcess } from './support.ts';

const cfg = {
  db: setting('BENCH_DB', 'both'),
  count: Math.max(20, Math.floor(Number(setting('BENCH_COUNT', '300')) || 300)),
  pgUrl: setting('BENCH_PG_URL', 'postgres://postgres@127.0.0.1:5432/test'),
  out: setting('BENCH_OUT', path.join(serverDir, 'bench', 'results')),
};
if (!['both', 'postgres', 'pglite'].includes(cfg.db)) throw new Error('BENCH_DB must be both, postgres or pglite');
if (!['127.0.0.1', 'localhost'].includes(new URL(cfg.pgUrl).hostname)) throw new Error('BENCH_PG_URL must point to the local machine');

const ROOMS = 20;
const MEMBERS = 10;

interface Row {
  database: string;
  request: string;
  count: number;
  cpu_ms: number;
  /** PostgreSQL only: CPU of the backends serving the server's database, per request. */
  db_cpu_ms?: number;
  round_trips: number;
}

/** The server's count of database statements so far (it writes it on SIGUSR2). */
async function queryCount(srv: ServerProcess, file: string): Promise<number> {
  const before = statSafe(file);
  process.kill(srv.pid, 'SIGUSR2');
  for (let i = 0; i < 200; i++) {
    await sleep(10);
    const now = statSafe(file);
    if (now !== before) return Number(readFileSync(file, 'utf8'));
  }
  throw new Error('the server did not report its query count');
}

function statSafe(file: string): string {
  try {
    const s = statSync(file);
    return `${s.mtimeMs}:${s.size}:${readFileSync(file, 'utf8')}`;
  } catch {
    return '';
  }
}

async function runDatabase(kind: 'postgres' | 'pglite', logDir: string): Promise<Row[]> {
  const database = await freshDatabase(kind, cfg.pgUrl);
  const countFile = path.join(logDir, `queries-${kind}`);
  const srv = await startServerProcess(
    { ...database.env, BENCH_QUERY_COUNT_FILE: countFile, ...(process.env.BENCH_QUERY_HISTOGRAM ? { BENCH_QUERY_HISTOGRAM: '1' } : {}) },
    { logDir, nodeArgs: ['--import', path.join(serverDir, 'bench', 'count-queries.ts')] },
  );
  const agent = makeAgent(ROOMS * MEMBERS + 64);
  const url = srv.url;
  const rows: Row[] = [];
  try {
    const users = await pool(
      Array.from({ length: ROOMS * MEMBERS }, (_, i) => i),
      8,
      async (i) => (await call(agent, url, 'POST', '/_matrix/client/v3/register', undefined, { username: `cost${i}`, auth: { type: 'm.login.dummy' } })).access_token as string,
    );
    const rooms = await pool(
      Array.from({ length: ROOMS }, (_, r) => r),
      4,
      async (r) => (await call(agent, url, 'POST', '/_matrix/client/v3/createRoom', users[r * MEMBERS]!, { preset: 'public_chat' })).room_id as string,
    );
    await pool(
      users.map((token, i) => ({ token, i })).filter(({ i }) => i % MEMBERS !== 0),
      8,
      ({ token, i }) => call(agent, url, 'POST', `/_matrix/client/v3/join/${encodeURIComponent(rooms[Math.floor(i / MEMBERS)]!)}`, token, {}),
    );
    const token = users[0]!;
    const room = encodeURIComponent(rooms[0]!);
    let txn = 0;
    const send = (t = token, r = room) => call(agent, url, 'PUT', `/_matrix/client/v3/rooms/${r}/send/m.room.message/c${++txn}`, t, { msgtype: 'm.text', body: `message ${txn}` });
    let since = (await call(agent, url, 'GET', '/_matrix/client/v3/sync?timeout=0', token)).next_batch as string;
    const sync = async () => {
      since = (await call(agent, url, 'GET', `/_matrix/client/v3/sync?timeout=0&since=${encodeURIComponent(since)}`, token)).next_batch;
    };

    const measure = async (request: string, count: number, fn: () => Promise<unknown>) => {
      for (let i = 0; i < Math.min(30, count); i++) await fn(); // warm-up
      await sleep(200);
      const q0 = await queryCount(srv, countFile);
      const d0 = database.env.DATABASE_URL ? await databaseBackendsCpuSeconds(database.env.DATABASE_URL) : 0;
      const c0 = cpuSecondsOf(srv.pid);
      for (let i = 0; i < count; i++) await fn();
      await sleep(200);
      const c1 = cpuSecondsOf(srv.pid);
      const d1 = database.env.DATABASE_URL ? await databaseBackendsCpuSeconds(database.env.DATABASE_URL) : 0;
      const q1 = await queryCount(srv, countFile);
      rows.push({
        database: kind,
        request,
        count,
        cpu_ms: round(((c1 - c0) * 1000) / count),
        ...(database.env.DATABASE_URL ? { db_cpu_ms: round(((d1 - d0) * 1000) / count) } : {}),
        round_trips: round((q1 - q0) / count),
      });
      process.stderr.write(`${kind} ${request}: ${JSON.stringify(rows.at(-1))}\n`);
      // BENCH_QUERY_HISTOGRAM=1: which statements the measured requests made, most frequent first.
      if (process.env.BENCH_QUERY_HISTOGRAM) process.stderr.write(readFileSync(`${countFile}.histogram`, 'utf8').split('\n').slice(0, 25).join('\n') + '\n');
    };

    await measure('versions', cfg.count, () => call(agent, url, 'GET', '/_matrix/client/versions'));
    await measure('sync0', cfg.count, sync);
    await measure('send', cfg.count, () => send());
    await measure('send+sync', cfg.count, async () => {
      await send();
      await sync();
    });
    // 20 senders at once, one per room: per send.
    const rounds = Math.max(5, Math.floor(cfg.count / ROOMS));
    await measure('send x20 (per send)', rounds, () => Promise.all(rooms.map((r, i) => send(users[i * MEMBERS]!, encodeURIComponent(r)))));
    rows.at(-1)!.count = rounds * ROOMS;
    rows.at(-1)!.cpu_ms = round(rows.at(-1)!.cpu_ms / ROOMS);
    rows.at(-1)!.round_trips = round(rows.at(-1)!.round_trips / ROOMS);

    // Every user long-polls; each send then wakes the 9 other members of its room.
    const controller = new AbortController();
    const delivered = { n: 0 };
    const pollers = users.map(async (t) => {
      let pos = (await call(agent, url, 'GET', '/_matrix/client/v3/sync?timeout=0', t)).next_batch as string;
      while (!controller.signal.aborted) {
        try {
          const body = await call(agent, url, 'GET', `/_matrix/client/v3/sync?timeout=30000&since=${encodeURIComponent(pos)}`, t, undefined, controller.signal);
          pos = body.next_batch;
          delivered.n++;
        } catch {
          if (!controller.signal.aborted) await sleep(100);
        }
      }
    });
    await sleep(2000);
    const senders = Array.from({ length: ROOMS }, (_, r) => users[r * MEMBERS + 1]!);
    let k = 0;
    await measure('wake: send + 9 sync answers (per send)', Math.min(cfg.count, 200), async () => {
      const r = k++ % ROOMS;
      const target = delivered.n + MEMBERS - 1;
      await send(senders[r], encodeURIComponent(rooms[r]!));
      // Wait for the wake-ups, so that each measured send includes its answers.
      for (let i = 0; i < 500 && delivered.n < target; i++) await sleep(2);
    });
    controller.abort();
    await Promise.allSettled(pollers);
  } finally {
    await agent.close().catch(() => undefined);
    await srv.stop();
    await database.drop();
  }
  return rows;
}

const round = (v: number) => Math.round(v * 100) / 100;

async function main(): Promise<void> {
  mkdirSync(cfg.out, { recursive: true });
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'tocsin-cost-'));
  const load = readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');
  const rows: Row[] = [];
  for (const kind of cfg.db === 'both' ? (['postgres', 'pglite'] as const) : [cfg.db as 'postgres' | 'pglite']) rows.push(...(await runDatabase(kind, logDir)));
  const loadAfter = readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');
  const md = [
    '# Request cost (server CPU and database round trips per request)',
    '',
    `${new Date().toISOString()} · ${os.cpus().length} cores · load average before ${load}, after ${loadAfter}`,
    '',
    '| database | request | requests | server CPU ms | PostgreSQL CPU ms | round trips |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.database} | ${r.request} | ${r.count} | ${r.cpu_ms} | ${r.db_cpu_ms ?? '-'} | ${r.round_trips} |`),
    '',
    'PostgreSQL CPU: the backends serving the server\'s database (pg_stat_activity), so other users of the shared PostgreSQL are not counted.',
    '',
    'Run: `sh scripts/node.sh server/bench/request-cost.ts` (settings: BENCH_DB, BENCH_COUNT).',
    '',
  ].join('\n');
  writeFileSync(path.join(cfg.out, 'request-cost.json'), `${JSON.stringify({ date: new Date().toISOString(), load_before: load, load_after: loadAfter, rows }, null, 2)}\n`);
  writeFileSync(path.join(cfg.out, 'request-cost.md'), md);
  process.stdout.write(`\n${md}`);
  rmSync(logDir, { recursive: true, force: true });
}

await main();
