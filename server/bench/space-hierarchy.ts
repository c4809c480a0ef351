/**
 * Cost of GET /_matrix/client/v1/rooms/{roomId}/hierarchy on a space of BENCH_SUBSPACES
 * sub-spaces (default 10) of BENCH_ROOMS_PER (default 20) rooms each, measured as server CPU
 * time (utime + stime of the server process, from /proc; with PGlite the database runs inside
 * it) per request, and wall-clock per request (inflated by a loaded machine: read it with the
 * load average). Two kinds of request, each BENCH_COUNT (default 20) times:
 *   first page   limit=50 from the root
 *   all pages    every page of limit=50 until next_batch is gone (each page walks the tree
 *                again up to its end: the cost of the stateless token)
 *   sh scripts/node.sh server/bench/space-hierarchy.ts [--db=pglite|postgres] [--count=20]
 * Load goes to 127.0.0.1 only and ends by itself. Writes bench/results/space-hierarchy.{json,md}.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchSetting as setting, call, cpuSecondsOf, freshDatabase, makeAgent, pool, serverDir, startServerProcess } from './support.ts';

const cfg = {
  db: setting('BENCH_DB', 'pglite'),
  count: Math.max(1, Math.floor(Number(setting('BENCH_COUNT', '20')) || 20)),
  subspaces: Math.max(1, Math.floor(Number(setting('BENCH_SUBSPACES', '10')) || 10)),
  roomsPer: Math.max(1, Math.floor(Number(setting('BENCH_ROOMS_PER', '20')) || 20)),
  pgUrl: setting('BENCH_PG_URL', 'postgres://postgres@127.0.0.1:5432/test'),
  out: setting('BENCH_OUT', path.join(serverDir, 'bench', 'results')),
};
if (cfg.db !== 'pglite' && cfg.db !== 'postgres') throw new Error('BENCH_DB must be pglite or postgres');
if (!['127.0.0.1', 'localhost'].includes(new URL(cfg.pgUrl).hostname)) throw new Error('BENCH_PG_URL must point to the local machine');

const database = await freshDatabase(cfg.db, cfg.pgUrl);
const srv = await startServerProcess(database.env, { logDir: mkdtempSync(path.join(os.tmpdir(), 'tocsin-bench-log-')) });
const agent = makeAgent(8);
try {
  const url = srv.url;
  const token = (await call(agent, url, 'POST', '/_matrix/client/v3/register', undefined, { username: 'spaces', auth: { type: 'm.login.dummy' } })).access_token as string;
  const create = async (body: Record<string, unknown>) => (await call(agent, url, 'POST', '/_matrix/client/v3/createRoom', token, body)).room_id as string;
  const link = (parent: string, child: string) =>
    call(agent, url, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(parent)}/state/m.space.child/${encodeURIComponent(child)}`, token, { via: ['localhost'] });
  const space = { preset: 'public_chat', creation_content: { type: 'm.space' } };
  const root = await create(space);
  let rooms = 1;
  for (let s = 0; s < cfg.subspaces; s++) {
    const sub = await create(space);
    await link(root, sub);
    const children = await pool(Array.from({ length: cfg.roomsPer }), 4, () => create({ preset: 'public_chat' }));
    for (const c of children) await link(sub, c);
    rooms += 1 + children.length;
  }
  const hierarchy = (from?: string) =>
    call(agent, url, 'GET', `/_matrix/client/v1/rooms/${encodeURIComponent(root)}/hierarchy?limit=50${from ? `&from=${encodeURIComponent(from)}` : ''}`, token);
  await hierarchy(); // warm-up

  const measure = async (fn: () => Promise<number>) => {
    const cpu0 = cpuSecondsOf(srv.pid);
    const t0 = performance.now();
    let requests = 0;
    for (let i = 0; i < cfg.count; i++) requests += await fn();
    return { requests, cpuMsPerRequest: ((cpuSecondsOf(srv.pid) - cpu0) * 1000) / requests, wallMsPerRequest: (performance.now() - t0) / requests };
  };
  const firstPage = await measure(async () => {
    await hierarchy();
    return 1;
  });
  let listed = 0;
  const allPages = await measure(async () => {
    let from: string | undefined;
    let pages = 0;
    listed = 0;
    do {
      const page = await hierarchy(from);
      listed += page.rooms.length;
      from = page.next_batch;
      pages++;
    } while (from !== undefined);
    return pages;
  });
  if (listed !== rooms) throw new Error(`the walk listed ${listed} rooms of ${rooms}`);
  const result = { database: cfg.db, rooms, count: cfg.count, firstPage, allPages, loadAverage1m: os.loadavg()[0] };
  mkdirSync(cfg.out, { recursive: true });
  writeFileSync(path.join(cfg.out, 'space-hierarchy.json'), `${JSON.stringify(result, null, 2)}\n`);
  const f = (n: number) => n.toFixed(1);
  const md = [
    `# Space hierarchy (${cfg.db}, ${rooms} rooms: ${cfg.subspaces} sub-spaces of ${cfg.roomsPer})`,
    '',
    '| request | requests | server CPU ms/request | wall ms/request |',
    '|---|---|---|---|',
    `| first page (limit=50) | ${firstPage.requests} | ${f(firstPage.cpuMsPerRequest)} | ${f(firstPage.wallMsPerRequest)} |`,
    `| every page (limit=50) | ${allPages.requests} | ${f(allPages.cpuMsPerRequest)} | ${f(allPages.wallMsPerRequest)} |`,
    '',
    `Load average (1 min) at the end: ${f(result.loadAverage1m ?? 0)} on ${os.cpus().length} cores.`,
    '',
  ].join('\n');
  writeFileSync(path.join(cfg.out, 'space-hierarchy.md'), md);
  console.log(md);
} finally {
  await agent.close();
  await srv.stop();
  await database.drop();
}
