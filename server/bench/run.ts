/**
 * Send-to-sync benchmark (`npm run bench` at the repository root).
 *
 * Starts the real server as a child process on a fresh database (PostgreSQL and/or PGlite),
 * registers users, puts them in rooms, and has every user long-poll /sync (timeout 30000) the
 * way clients do. Then:
 *  1. rate phase: messages at a fixed total rate; for each message and each other member of
 *     its room, the time from the send's HTTP response to the sync response that carries it;
 *  2. max phase: a bounded number of concurrent senders send as fast as they can.
 * It reports latencies, events delivered per second, the server's CPU (% of one core) and peak
 * RSS (/proc/<pid>/stat and VmHWM), and writes bench/results/send-to-sync.{json,md}.
 *
 * Load goes to 127.0.0.1 only; every phase is bounded in time and in requests and ends by itself.
 * Settings (environment, or --name=value with the same name in lower case without BENCH_):
 *   BENCH_DB=both|postgres|pglite  BENCH_SECONDS=30  BENCH_RATE=200  BENCH_MAX_SECONDS=15
 *   BENCH_USERS=200  BENCH_ROOMS=20  BENCH_LANES=32  BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test
 *   BENCH_CPU_PROF=<dir> (runs the server with --cpu-prof into that directory)
 *   BENCH_NODE_ARGS="..." (node options for the server process)
 *   BENCH_OUT=<dir> (where results go; default server/bench/results)
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Agent } from 'undici';
import {
  call,
  cpuSecondsOf,
  freshDatabase,
  machineBusySeconds,
  makeAgent,
  memoryOf,
  percentile,
  pool,
  postgresCpuSeconds,
  databaseBackendsCpuSeconds,
  serverDir,
  sleep,
  startServerProcess,
  type ServerProcess,
  benchSetting as setting,
} from './support.ts';

const numberSetting = (name: string, fallback: number) => {
  const v = Number(setting(name, String(fallback)));
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};

const cfg = {
  db: setting('BENCH_DB', 'both'),
  seconds: numberSetting('BENCH_SECONDS', 30),
  rate: numberSetting('BENCH_RATE', 200),
  maxSeconds: numberSetting('BENCH_MAX_SECONDS', 15),
  users: Math.floor(numberSetting('BENCH_USERS', 200)),
  rooms: Math.floor(numberSetting('BENCH_ROOMS', 20)),
  lanes: Math.floor(numberSetting('BENCH_LANES', 32)),
  pgUrl: setting('BENCH_PG_URL', 'postgres://postgres@127.0.0.1:5432/test'),
  cpuProf: setting('BENCH_CPU_PROF', ''),
  /** Extra node options for the server process (e.g. --max-semi-space-size=4). */
  nodeArgs: setting('BENCH_NODE_ARGS', '').trim(),
  out: setting('BENCH_OUT', path.join(serverDir, 'bench', 'results')),
};
if (!['both', 'postgres', 'pglite'].includes(cfg.db)) throw new Error('BENCH_DB must be both, postgres or pglite');
if (cfg.users % cfg.rooms !== 0 || cfg.users / cfg.rooms < 2) throw new Error('BENCH_USERS must be a multiple of BENCH_ROOMS, with 2 members or more per room');
if (new URL(cfg.pgUrl).hostname !== '127.0.0.1' && new URL(cfg.pgUrl).hostname !== 'localhost') throw new Error('BENCH_PG_URL must point to the local machine');

const MEMBERS = cfg.users / cfg.rooms;
const SYNC_FILTER = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 50 } } }));
const BENCH_KEY = 'org.tocsin.bench';
/** Sends in flight at most (the rate phase skips a message rather than pile up more). */
const MAX_OUTSTANDING = 2000;

interface User {
  index: number;
  userId: string;
  token: string;
  room: number;
}

interface Sent {
  phase: 'rate' | 'max';
  requestAt: number;
  responseAt: number;
  ok: boolean;
}

interface PhaseResult {
  seconds: number;
  sends_attempted: number;
  sends_ok: number;
  send_errors: number;
  sends_skipped: number;
  sends_per_s: number;
  send_ms: { p50: number; p99: number; max: number };
  deliveries_expected: number;
  deliveries_received: number;
  deliveries_missing: number;
  delivered_per_s: number;
  /** From the send's HTTP response to the recipient's sync response (0 when the sync came first). */
  latency_ms: { p50: number; p99: number; max: number; mean: number };
  /** From the start of the send request to the recipient's sync response. */
  latency_from_request_ms: { p50: number; p99: number; max: number };
  syncs_answered: number;
  limited_timelines: number;
  /** Events read with /messages to fill the gaps of limited timelines (late, not lost). */
  gap_events: number;
  sync_errors: number;
  server_cpu_pct: number;
  postgres_cpu_pct?: number;
  loadgen_cpu_pct: number;
  /** Everything else busy on the machine meanwhile (other processes, steal), % of one core. */
  other_cpu_pct: number;
  /** Server CPU per (event, recipient) delivered, sends included: comparable across noisy runs. */
  server_cpu_ms_per_delivery: number;
  postgres_cpu_ms_per_delivery?: number;
  /** CPU of the PostgreSQL backends serving the server's database only (other users of the shared PostgreSQL left out). */
  backends_cpu_ms_per_delivery?: number;
  server_peak_rss_mb: number;
  server_rss_mb: number;
}

interface DbResult {
  database: 'postgres' | 'pglite';
  setup_seconds: number;
  rate: PhaseResult;
  max: PhaseResult & { lanes: number };
  server_peak_rss_mb: number;
  send_errors: Record<string, number>;
}

const round = (n: number, d = 1) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : n);

async function runDatabase(kind: 'postgres' | 'pglite', logDir: string): Promise<DbResult> {
  const database = await freshDatabase(kind, cfg.pgUrl);
  const nodeArgs = [
    ...(cfg.nodeArgs ? cfg.nodeArgs.split(/\s+/) : []),
    ...(cfg.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(cfg.cpuProf)}`, `--cpu-prof-name=server-${kind}-${Date.now()}.cpuprofile`] : []),
  ];
  let server: ServerProcess | undefined;
  const agent = makeAgent(cfg.users + cfg.lanes + 64);
  const stopSync = new AbortController();
  try {
    server = await startServerProcess(database.env, { nodeArgs, logDir });
    const srv = server;
    const url = srv.url;
    const setupStart = performance.now();
    log(`${kind}: server pid ${srv.pid} on ${url}; registering ${cfg.users} users`);

    const users: User[] = await pool(
      Array.from({ length: cfg.users }, (_, i) => i),
      8,
      async (i) => {
        const r = await call(agent, url, 'POST', '/_matrix/client/v3/register', undefined, { username: `bench${i}`, auth: { type: 'm.login.dummy' } });
        return { index: i, userId: r.user_id, token: r.access_token, room: Math.floor(i / MEMBERS) };
      },
    );
    const roomIds: string[] = await pool(
      Array.from({ length: cfg.rooms }, (_, r) => r),
      4,
      async (r) => (await call(agent, url, 'POST', '/_matrix/client/v3/createRoom', users[r * MEMBERS]!.token, { preset: 'public_chat', name: `bench ${r}` })).room_id,
    );
    await pool(
      users.filter((u) => u.index % MEMBERS !== 0),
      16,
      (u) => call(agent, url, 'POST', `/_matrix/client/v3/join/${encodeURIComponent(roomIds[u.room]!)}`, u.token, {}),
    );
    const membersOf = (room: number) => users.slice(room * MEMBERS, (room + 1) * MEMBERS);

    // Every user long-polls /sync in a loop for the whole run.
    const sent: Sent[] = [];
    const delSeq: number[] = [];
    const delAt: number[] = [];
    const counters = { syncs: 0, limited: 0, errors: 0, gapEvents: 0 };
    const initialTokens = await pool(users, 16, async (u) => (await call(agent, url, 'GET', `/_matrix/client/v3/sync?timeout=0&filter=${SYNC_FILTER}`, u.token)).next_batch as string);
    const syncLoop = async (u: User, since: string) => {
      while (!stopSync.signal.aborted) {
        let body: any;
        try {
          body = await call(agent, url, 'GET', `/_matrix/client/v3/sync?since=${encodeURIComponent(since)}&timeout=30000&filter=${SYNC_FILTER}`, u.token, undefined, stopSync.signal);
        } catch {
          if (stopSync.signal.aborted) return;
          counters.errors++;
          await sleep(200);
          continue;
        }
        const at = performance.now();
        counters.syncs++;
        for (const [roomId, room] of Object.entries<any>(body.rooms?.join ?? {})) {
          if (room.timeline?.limited) {
            counters.limited++;
            // A limited timeline leaves a gap that a client fills with /messages from prev_batch
            // back to its token: its events are late, not lost (counted when the gap is read).
            const gap = await fillGap(u, roomId, room.timeline.prev_batch, since);
            const gapAt = performance.now();
            for (const seq of gap) {
              delSeq.push(seq);
              delAt.push(gapAt);
              counters.gapEvents++;
            }
          }
          for (const e of room.timeline?.events ?? []) {
            const seq = e.content?.[BENCH_KEY];
            if (typeof seq === 'number' && e.sender !== u.userId) {
              delSeq.push(seq);
              delAt.push(at);
            }
          }
        }
        since = body.next_batch;
      }
    };
    /** The bench events of others between two tokens of a room, read backwards with /messages. */
    const fillGap = async (u: User, roomId: string, from: string, to: string): Promise<number[]> => {
      const seqs: number[] = [];
      let token: string | undefined = from;
      for (let page = 0; page < 20 && token; page++) {
        let body: any;
        try {
          body = await call(agent, url, 'GET', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=500&from=${encodeURIComponent(token)}&to=${encodeURIComponent(to)}`, u.token);
        } catch {
          counters.errors++;
          break;
        }
        for (const e of body.chunk ?? []) {
          const seq = e.content?.[BENCH_KEY];
          if (typeof seq === 'number' && e.sender !== u.userId) seqs.push(seq);
        }
        token = (body.chunk ?? []).length > 0 ? body.end : undefined;
      }
      return seqs;
    };
    const syncing = users.map((u, i) => syncLoop(u, initialTokens[i]!));
    await sleep(1000);
    const setupSeconds = (performance.now() - setupStart) / 1000;
    log(`${kind}: set up in ${round(setupSeconds)} s (${cfg.users} users, ${cfg.rooms} rooms of ${MEMBERS}); rate phase: ${cfg.rate} msg/s for ${cfg.seconds} s`);

    let outstanding = 0;
    /** Failed sends by error message (the first 160 characters). */
    const sendErrors = new Map<string, number>();
    const send = (seq: number, phase: Sent['phase']): Promise<void> => {
      const room = seq % cfg.rooms;
      const sender = membersOf(room)[Math.floor(seq / cfg.rooms) % MEMBERS]!;
      const entry: Sent = { phase, requestAt: performance.now(), responseAt: NaN, ok: false };
      sent[seq] = entry;
      outstanding++;
      return call(agent, url, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(roomIds[room]!)}/send/m.room.message/b${seq}`, sender.token, {
        msgtype: 'm.text',
        body: `bench message ${seq}`,
        [BENCH_KEY]: seq,
      }).then(
        () => {
          entry.responseAt = performance.now();
          entry.ok = true;
        },
        (err: unknown) => {
          entry.responseAt = performance.now();
          const msg = err instanceof Error ? err.message.slice(0, 160) : String(err);
          sendErrors.set(msg, (sendErrors.get(msg) ?? 0) + 1);
        },
      ).finally(() => {
        outstanding--;
      });
    };

    const measure = async (phase: Sent['phase'], drive: () => Promise<{ attempted: number; skipped: number }>): Promise<PhaseResult> => {
      const firstSeq = sent.length;
      const cpu0 = cpuSecondsOf(srv.pid);
      const pg0 = kind === 'postgres' ? postgresCpuSeconds() : 0;
      const own0 = database.env.DATABASE_URL ? await databaseBackendsCpuSeconds(database.env.DATABASE_URL) : 0;
      const gen0 = process.cpuUsage();
      const machine0 = machineBusySeconds();
      const t0 = performance.now();
      const { attempted, skipped } = await drive();
      while (outstanding > 0) await sleep(5);
      const t1 = performance.now();
      const cpu1 = cpuSecondsOf(srv.pid);
      const pg1 = kind === 'postgres' ? postgresCpuSeconds() : 0;
      const own1 = database.env.DATABASE_URL ? await databaseBackendsCpuSeconds(database.env.DATABASE_URL) : 0;
      const gen = process.cpuUsage(gen0);
      const machine1 = machineBusySeconds();
      const elapsed = (t1 - t0) / 1000;
      const mine = sent.slice(firstSeq);
      const ok = mine.filter((s) => s.ok);
      const expected = ok.length * (MEMBERS - 1);
      // Let the last deliveries arrive (bounded).
      const countMine = () => delSeq.reduce((n, s) => n + (s >= firstSeq ? 1 : 0), 0);
      const drainUntil = performance.now() + 10_000;
      while (countMine() < expected && performance.now() < drainUntil) await sleep(50);
      const latencies: number[] = [];
      const fromRequest: number[] = [];
      let inWindow = 0;
      for (let k = 0; k < delSeq.length; k++) {
        const seq = delSeq[k]!;
        if (seq < firstSeq) continue;
        const s = sent[seq]!;
        latencies.push(Math.max(0, delAt[k]! - s.responseAt));
        fromRequest.push(delAt[k]! - s.requestAt);
        if (delAt[k]! <= t1) inWindow++;
      }
      latencies.sort((a, b) => a - b);
      fromRequest.sort((a, b) => a - b);
      const sendMs = ok.map((s) => s.responseAt - s.requestAt).sort((a, b) => a - b);
      const mem = memoryOf(srv.pid);
      const result: PhaseResult = {
        seconds: round(elapsed, 2),
        sends_attempted: attempted,
        sends_ok: ok.length,
        send_errors: mine.length - ok.length - skipped,
        sends_skipped: skipped,
        sends_per_s: round(ok.length / elapsed),
        send_ms: { p50: round(percentile(sendMs, 50)), p99: round(percentile(sendMs, 99)), max: round(sendMs.at(-1) ?? NaN) },
        deliveries_expected: expected,
        deliveries_received: latencies.length,
        deliveries_missing: expected - latencies.length,
        delivered_per_s: round(inWindow / elapsed),
        latency_ms: {
          p50: round(percentile(latencies, 50)),
          p99: round(percentile(latencies, 99)),
          max: round(latencies.at(-1) ?? NaN),
          mean: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)),
        },
        latency_from_request_ms: { p50: round(percentile(fromRequest, 50)), p99: round(percentile(fromRequest, 99)), max: round(fromRequest.at(-1) ?? NaN) },
        syncs_answered: 0,
        limited_timelines: 0,
        gap_events: 0,
        sync_errors: 0,
        server_cpu_pct: round(((cpu1 - cpu0) / elapsed) * 100),
        loadgen_cpu_pct: round(((gen.user + gen.system) / 1e6 / elapsed) * 100),
        other_cpu_pct: round(
          Math.max(0, (machine1 - machine0 - (cpu1 - cpu0) - (pg1 - pg0) - (gen.user + gen.system) / 1e6) / elapsed) * 100,
        ),
        server_peak_rss_mb: round(mem.peakRssMb),
        server_rss_mb: round(mem.rssMb),
        server_cpu_ms_per_delivery: 0,
      };
      const delivered = Math.max(1, latencies.length);
      result.server_cpu_ms_per_delivery = round(((cpu1 - cpu0) * 1000) / delivered, 3);
      if (kind === 'postgres') {
        result.postgres_cpu_pct = round(((pg1 - pg0) / elapsed) * 100);
        result.postgres_cpu_ms_per_delivery = round(((pg1 - pg0) * 1000) / delivered, 3);
        result.backends_cpu_ms_per_delivery = round(((own1 - own0) * 1000) / delivered, 3);
      }
      return result;
    };

    const snapshot = () => ({ ...counters });
    let c0 = snapshot();
    const rate = await measure('rate', async () => {
      const total = Math.round(cfg.rate * cfg.seconds);
      const base = sent.length;
      const start = performance.now();
      let i = 0;
      let skipped = 0;
      while (i < total) {
        const due = Math.min(total, Math.floor(((performance.now() - start) * cfg.rate) / 1000) + 1);
        while (i < due) {
          if (outstanding >= MAX_OUTSTANDING) {
            skipped++;
            sent[base + i] = { phase: 'rate', requestAt: NaN, responseAt: NaN, ok: false };
          } else void send(base + i, 'rate');
          i++;
        }
        await sleep(2);
      }
      return { attempted: total, skipped };
    });
    let c1 = snapshot();
    Object.assign(rate, { syncs_answered: c1.syncs - c0.syncs, limited_timelines: c1.limited - c0.limited, gap_events: c1.gapEvents - c0.gapEvents, sync_errors: c1.errors - c0.errors });
    log(`${kind}: rate phase: ${rate.sends_per_s} sends/s, ${rate.delivered_per_s} delivered/s, latency p50 ${rate.latency_ms.p50} ms p99 ${rate.latency_ms.p99} ms; max phase: ${cfg.lanes} senders for ${cfg.maxSeconds} s`);

    await sleep(1000);
    c0 = snapshot();
    const max = await measure('max', async () => {
      const until = performance.now() + cfg.maxSeconds * 1000;
      let attempted = 0;
      const lane = async () => {
        while (performance.now() < until) {
          const seq = sent.length;
          attempted++;
          await send(seq, 'max');
        }
      };
      await Promise.all(Array.from({ length: cfg.lanes }, lane));
      return { attempted, skipped: 0 };
    });
    c1 = snapshot();
    Object.assign(max, { syncs_answered: c1.syncs - c0.syncs, limited_timelines: c1.limited - c0.limited, gap_events: c1.gapEvents - c0.gapEvents, sync_errors: c1.errors - c0.errors });
    log(`${kind}: max phase: ${max.sends_per_s} sends/s, ${max.delivered_per_s} delivered/s, latency p50 ${max.latency_ms.p50} ms p99 ${max.latency_ms.p99} ms`);

    stopSync.abort();
    await Promise.all(syncing);
    const peak = memoryOf(srv.pid).peakRssMb;
    if (sendErrors.size > 0) log(`${kind}: send errors: ${JSON.stringify(Object.fromEntries(sendErrors))}`);
    return {
      database: kind,
      setup_seconds: round(setupSeconds),
      rate,
      max: { ...max, lanes: cfg.lanes },
      server_peak_rss_mb: round(peak),
      send_errors: Object.fromEntries(sendErrors),
    };
  } finally {
    stopSync.abort();
    await server?.stop();
    await agent.close().catch(() => undefined);
    await database.drop();
  }
}

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function table(results: DbResult[]): string {
  const head = ['database', 'phase', 'sends/s', 'delivered/s', 'p50 ms', 'p99 ms', 'max ms', 'send p99 ms', 'missing', 'server CPU %', 'postgres CPU %', 'loadgen CPU %', 'other CPU %', 'server CPU ms/delivery', 'its PG backends CPU ms/delivery', 'peak RSS MB'];
  const rows = results.flatMap((r) =>
    (['rate', 'max'] as const).map((phase) => {
      const p = r[phase];
      return [
        r.database,
        phase === 'rate' ? `${cfg.rate} msg/s` : `max (${cfg.lanes} senders)`,
        String(p.sends_per_s),
        String(p.delivered_per_s),
        String(p.latency_ms.p50),
        String(p.latency_ms.p99),
        String(p.latency_ms.max),
        String(p.send_ms.p99),
        String(p.deliveries_missing),
        String(p.server_cpu_pct),
        p.postgres_cpu_pct === undefined ? '-' : String(p.postgres_cpu_pct),
        String(p.loadgen_cpu_pct),
        String(p.other_cpu_pct),
        String(p.server_cpu_ms_per_delivery),
        p.backends_cpu_ms_per_delivery === undefined ? '-' : String(p.backends_cpu_ms_per_delivery),
        String(p.server_peak_rss_mb),
      ];
    }),
  );
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function aims(results: DbResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    if (r.database === 'postgres') {
      out.push(`PostgreSQL p99 < 25 ms at ${cfg.rate} msg/s: ${r.rate.latency_ms.p99} ms (${r.rate.latency_ms.p99 < 25 ? 'met' : 'NOT met'})`);
      out.push(`PostgreSQL >= 1000 events/s delivered: ${Math.max(r.rate.delivered_per_s, r.max.delivered_per_s)} (${Math.max(r.rate.delivered_per_s, r.max.delivered_per_s) >= 1000 ? 'met' : 'NOT met'})`);
      out.push(`PostgreSQL peak RSS < 200 MB: ${r.server_peak_rss_mb} MB (${r.server_peak_rss_mb < 200 ? 'met' : 'NOT met'})`);
    } else {
      out.push(`PGlite >= 300 events/s delivered: ${Math.max(r.rate.delivered_per_s, r.max.delivered_per_s)} (${Math.max(r.rate.delivered_per_s, r.max.delivered_per_s) >= 300 ? 'met' : 'NOT met'})`);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const kinds: Array<'postgres' | 'pglite'> = cfg.db === 'both' ? ['postgres', 'pglite'] : [cfg.db as 'postgres' | 'pglite'];
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'tocsin-bench-logs-'));
  if (cfg.cpuProf) mkdirSync(cfg.cpuProf, { recursive: true });
  const results: DbResult[] = [];
  for (const kind of kinds) results.push(await runDatabase(kind, logDir));

  const machine = {
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memory_gb: round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()}`,
  };
  const report = {
    benchmark: 'send-to-sync',
    date: new Date().toISOString(),
    machine,
    node: process.version,
    settings: { ...cfg, members_per_room: MEMBERS, sync_timeout_ms: 30000, timeline_limit: 50, out: undefined, pgUrl: undefined },
    notes: [
      'The load generator runs on the same machine as the server (and PostgreSQL) and shares its cores; its CPU is loadgen CPU %.',
      'latency_ms: from the HTTP response of the send to the sync response that carries the event, per recipient (the sender excluded); 0 when the sync response came first.',
      'delivered_per_s: (event, recipient) pairs delivered by /sync during the phase, per second.',
      'server CPU %: the server process (user + system) as % of one core; postgres CPU %: every postgres process on the machine; its PG backends: only the backends serving the server database (pg_stat_activity).',
      'other CPU %: the rest of the machine busy during the phase (other processes, hypervisor steal); figures taken while it is high are noisy.',
    ],
    results,
    aims: aims(results),
  };
  mkdirSync(cfg.out, { recursive: true });
  writeFileSync(path.join(cfg.out, 'send-to-sync.json'), `${JSON.stringify(report, null, 2)}\n`);
  const md = [
    '# Send-to-sync benchmark',
    '',
    `${report.date} · ${machine.cores} cores (${machine.cpu}) · ${machine.memory_gb} GB · Node ${report.node}`,
    '',
    `${cfg.users} users in ${cfg.rooms} rooms of ${MEMBERS}, every user long-polling /sync (timeout 30000, timeline limit 50);`,
    `rate phase: ${cfg.rate} messages/s for ${cfg.seconds} s; max phase: ${cfg.lanes} concurrent senders for ${cfg.maxSeconds} s.`,
    'Latency: from the send\'s HTTP response to each recipient\'s sync response carrying the event.',
    'The load generator shares the machine with the server (and PostgreSQL).',
    '',
    table(results),
    '',
    ...results.map((r) => `- ${r.database}: set up in ${r.setup_seconds} s; syncs answered ${r.rate.syncs_answered} (rate) / ${r.max.syncs_answered} (max); limited timelines ${r.rate.limited_timelines} / ${r.max.limited_timelines} (their gaps read with /messages: ${r.rate.gap_events} / ${r.max.gap_events} deliveries); send errors ${r.rate.send_errors} / ${r.max.send_errors}; sends skipped (over ${MAX_OUTSTANDING} in flight) ${r.rate.sends_skipped}`),
    '',
    '## Aims',
    '',
    ...report.aims.map((a) => `- ${a}`),
    '',
    `Run: \`npm run bench\` (settings: BENCH_DB, BENCH_SECONDS, BENCH_RATE, BENCH_MAX_SECONDS, BENCH_USERS, BENCH_ROOMS, BENCH_LANES, BENCH_CPU_PROF).`,
    '',
  ].join('\n');
  writeFileSync(path.join(cfg.out, 'send-to-sync.md'), md);
  process.stdout.write(`\n${table(results)}\n\n${report.aims.join('\n')}\n\nwritten: ${path.join(cfg.out, 'send-to-sync.json')} and .md (server logs in ${logDir})\n`);
}

await main();
