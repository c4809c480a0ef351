/**
 * Log book export benchmark. Run from the repository root:
 *
 *   sh scripts/node.sh server/bench/logbook-export.ts [--db=postgres]
 *
 * A real server (child process) on a fresh database; one crisis room holding BENCH_ENTRIES
 * log book entries (default 1,000) among BENCH_CHAT chat messages (default 3,000), all sent
 * through the Matrix API. Then each format (json, csv, html) is exported BENCH_ROUNDS times
 * (default 10): wall time per export, the server's CPU per export (/proc/<pid>/stat, less
 * sensitive to a loaded machine than wall time) and the answer's size. On PostgreSQL it also
 * prints the plan of the log book query, to show the partial index of migration 016 in use.
 * Writes server/bench/results/logbook-export.{json,md}. Bounded: BENCH_TIMEOUT_S (default 600).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { logbookContent } from '../src/crisis/logbook/logbook-entry.ts';
import { benchSetting, call, cpuSecondsOf, freshDatabase, makeAgent, percentile, pool, startServerProcess } from './support.ts';

const kind = benchSetting('BENCH_DB', 'pglite') === 'postgres' ? 'postgres' : 'pglite';
const entries = Number(benchSetting('BENCH_ENTRIES', '1000'));
const chat = Number(benchSetting('BENCH_CHAT', '3000'));
const rounds = Number(benchSetting('BENCH_ROUNDS', '10'));
const pgUrl = benchSetting('BENCH_PG_URL', 'postgres://postgres@127.0.0.1:5432/test');
const timeout = setTimeout(() => {
  console.error('bench: over its time limit, stopping');
  process.exit(2);
}, Number(benchSetting('BENCH_TIMEOUT_S', '600')) * 1000);

const db = await freshDatabase(kind, pgUrl);
const logDir = mkdtempSync(path.join(os.tmpdir(), 'tocsin-bench-logbook-'));
const server = await startServerProcess(db.env, { logDir });
const agent = makeAgent(8);
try {
  const user = await call(agent, server.url, 'POST', '/_matrix/client/v3/register', undefined, { username: 'bench-logbook', password: 'bench password', auth: { type: 'm.login.dummy' } });
  const token = user.access_token as string;
  const room = (await call(agent, server.url, 'POST', '/_matrix/client/v3/createRoom', token, { preset: 'private_chat', name: 'Cellule de crise' })).room_id as string;
  const kinds = Array.from({ length: entries + chat }, (_, i) => (i % Math.ceil((entries + chat) / entries) === 0 ? 'entry' : 'chat'));
  const t0 = performance.now();
  await pool(kinds, 4, async (k, i) => {
    const content =
      k === 'entry'
        ? logbookContent({ text: `Entrée ${i} : point de situation, "moyens" engagés, secteur ${i % 17}`, tag: ['décision', 'action', 'message'][i % 3], ...(i % 5 === 0 ? { occurred_at: Date.now() - i * 1000 } : {}) })
        : { msgtype: 'm.text', body: `message ${i} dans le salon de crise` };
    await call(agent, server.url, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/b${i}`, token, content);
  });
  const sent = kinds.filter((k) => k === 'entry').length;
  console.log(`setup: ${kinds.length} events (${sent} entries) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  let plan: string | undefined;
  if (kind === 'postgres') {
    const c = new pg.Client({ connectionString: db.env.DATABASE_URL });
    await c.connect();
    const r = await c.query(
      "EXPLAIN SELECT stream_pos FROM events WHERE room_id = $1 AND type = 'm.room.message' AND (json->'content'->>'msgtype') = 'org.tocsin.logbook.entry' AND stream_pos <= 1000000000 ORDER BY stream_pos LIMIT 20001",
      [room],
    );
    plan = r.rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']).join('\n');
    await c.end();
    console.log(plan);
  }

  const results: Record<string, { entries: number; bytes: number; wallMs: { p50: number; max: number }; serverCpuMsPerExport: number }> = {};
  for (const format of ['json', 'csv', 'html'] as const) {
    const walls: number[] = [];
    let bytes = 0;
    let count = 0;
    const cpu0 = cpuSecondsOf(server.pid);
    for (let r = 0; r < rounds; r++) {
      const s = performance.now();
      const res = await fetch(`${server.url}/_tocsin/v1/rooms/${encodeURIComponent(room)}/logbook?format=${format}&limit=5000&tz=Europe/Paris`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.text();
      walls.push(performance.now() - s);
      if (res.status !== 200) throw new Error(`${format}: ${res.status} ${body.slice(0, 200)}`);
      bytes = Buffer.byteLength(body);
      count = format === 'json' ? (JSON.parse(body) as { total: number }).total : count;
    }
    const cpu = ((cpuSecondsOf(server.pid) - cpu0) * 1000) / rounds;
    walls.sort((a, b) => a - b);
    results[format] = { entries: count || sent, bytes, wallMs: { p50: percentile(walls, 50), max: walls.at(-1)! }, serverCpuMsPerExport: cpu };
  }
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const out = { database: kind, entries: sent, chatMessages: kinds.length - sent, rounds, loadAverage: load, results, ...(plan ? { plan } : {}) };
  console.log(JSON.stringify(out, null, 2));
  const dir = path.resolve(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const name = `logbook-export${kind === 'postgres' ? '-postgres' : ''}`;
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
  writeFileSync(
    path.join(dir, `${name}.md`),
    `# Log book export (${kind})\n\n${sent} entries among ${kinds.length - sent} chat messages in one room, ${rounds} exports per format, load average ${load}.\n\n` +
      '| format | bytes | wall p50 ms | wall max ms | server CPU ms/export |\n|---|---|---|---|---|\n' +
      Object.entries(results)
        .map(([f, r]) => `| ${f} | ${r.bytes} | ${r.wallMs.p50.toFixed(0)} | ${r.wallMs.max.toFixed(0)} | ${r.serverCpuMsPerExport.toFixed(0)} |`)
        .join('\n') +
      (plan ? `\n\nPlan of the log book query:\n\n\`\`\`\n${plan}\n\`\`\`\n` : '\n'),
  );
} finally {
  await server.stop();
  await db.drop();
  await agent.close();
  clearTimeout(timeout);
}
