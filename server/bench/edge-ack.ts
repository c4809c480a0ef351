/**
 * Alert-to-acknowledgement over an emulated EDGE link (`node server/bench/edge-ack.ts`, or
 * `sh scripts/node.sh server/bench/edge-ack.ts` from the repository root).
 *
 * Starts the real server as a child process on a fresh database and puts an emulated EDGE link
 * (test/support/edge-link.ts: 80 kbit/s down, 40 kbit/s up, 250 ms each way) between it and a
 * manager's phone (test/support/edge-phone.ts: fetch through a keep-alive undici Agent, gzip).
 * The phone follows the alert feed (GET /_tocsin/v1/feed, long-poll) and acknowledges each
 * alert (POST /_tocsin/v1/alerts/{id}/ack) the moment its frame lands: the app's own delay,
 * not the person's. The sender posts alerts on the office network, one at a time, idle
 * between them. Per alert it records:
 *   - ack_ms: from the start of the sender's POST /_tocsin/v1/alerts to the time the server
 *     recorded the acknowledgement (acknowledged_at of GET /_tocsin/v1/alerts/{id}; same clock);
 *   - frame_ms: to the frame landing on the phone; answered_ms: to the phone holding the ack's answer;
 *   - the bytes that crossed the link for that alert, each way: the feed answer, the ack and
 *     its answer, the feed's echo of the acknowledgement, and the phone's next long-polls.
 * Warm-up alerts (not counted) open the phone's keep-alive connections (feed and ack); the
 * first of them is reported apart as the first alert.
 * Scenarios: `steady` (the link as specified), `stalls` (the same, pausing 1 s every 10 s) and,
 * where root can make a network namespace with tbf, `tbf` (the kernel does the rate on a veth
 * pair, the proxy the latency: test/support/edge-link-tbf.ts).
 * Also measured: each exchange's size on the wire, one at a time on an idle link, and from them
 * the link's floor: 2 x 250 ms + the feed answer at 80 kbit/s + the ack request at 40 kbit/s.
 *
 * Settings (environment, or --name=value with the name in lower case without BENCH_):
 *   BENCH_DB=pglite|postgres|both (default pglite)  BENCH_ALERTS=20  BENCH_WARMUP=2
 *   BENCH_GAP_MS=1500 (idle time after each alert's exchanges)  BENCH_SCENARIOS=steady,stalls,tbf
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test  BENCH_OUT=<dir> (default server/bench/results)
 * Writes bench/results/edge-ack.{json,md}.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { EdgeLink, type EdgeCounters, type EdgeLinkOptions } from '../test/support/edge-link.ts';
import { TbfEdgeLink, tbfAvailable } from '../test/support/edge-link-tbf.ts';
import { EdgePhone, type FeedFrame } from '../test/support/edge-phone.ts';
import { call, freshDatabase, makeAgent, percentile, serverDir, sleep, startServerProcess } from './support.ts';

const argv = new Map(
  process.argv
    .slice(2)
    .map((a) => /^--([a-z_-]+)=(.*)$/.exec(a))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [`BENCH_${m[1]!.replace(/-/g, '_').toUpperCase()}`, m[2]!]),
);
const setting = (name: string, fallback: string) => argv.get(name) ?? process.env[name] ?? fallback;
const count = (name: string, fallback: number, min: number) => {
  const v = Number(setting(name, String(fallback)));
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}`);
  return v;
};

const cfg = {
  db: setting('BENCH_DB', 'pglite'),
  alerts: count('BENCH_ALERTS', 20, 1),
  warmup: count('BENCH_WARMUP', 2, 1),
  gapMs: count('BENCH_GAP_MS', 1500, 0),
  scenarios: setting('BENCH_SCENARIOS', 'steady,stalls,tbf').split(',').filter(Boolean),
  pgUrl: setting('BENCH_PG_URL', 'postgres://postgres@127.0.0.1:5432/test'),
  out: setting('BENCH_OUT', path.join(serverDir, 'bench', 'results')),
};
if (!['pglite', 'postgres', 'both'].includes(cfg.db)) throw new Error('BENCH_DB must be pglite, postgres or both');
const LINK = { downKbps: 80, upKbps: 40, latencyMs: 250 } as const;
const SCENARIOS: Record<string, Omit<EdgeLinkOptions, 'target'>> = {
  steady: { ...LINK },
  stalls: { ...LINK, stalls: { everyMs: 10_000, forMs: 1_000 } },
  // The rate from the kernel (tbf on a veth pair into a namespace), latency from the proxy.
  tbf: { ...LINK },
};
for (const s of cfg.scenarios) if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s} (steady, stalls, tbf)`);
const skipped: string[] = [];
if (cfg.scenarios.includes('tbf') && !tbfAvailable()) {
  cfg.scenarios = cfg.scenarios.filter((s) => s !== 'tbf');
  skipped.push('tbf: needs root, `ip netns` and `tc qdisc tbf`; not available here');
}

/** The link of a scenario; `close` tears down whatever it set up. */
async function openLink(name: string, port: number): Promise<{ link: EdgeLink; close(): Promise<void> }> {
  if (name === 'tbf') {
    const t = await TbfEdgeLink.start({ target: { port }, ...SCENARIOS.tbf });
    return { link: t.link, close: () => t.close() };
  }
  const link = await EdgeLink.start({ target: { port }, ...SCENARIOS[name]! });
  return { link, close: () => link.close() };
}

const SECRET = 'bench-shared-secret';
const agent = makeAgent(8);
const round = (n: number, d = 0) => Math.round(n * 10 ** d) / 10 ** d;

function log(msg: string): void {
  process.stderr.write(`[edge-ack] ${msg}\n`);
}

interface Sample {
  alert_id: string;
  ack_ms: number;
  frame_ms: number;
  answered_ms: number;
  down_bytes: number;
  up_bytes: number;
  connections_opened: number;
}

interface Track {
  frameAt?: number;
  answeredAt?: number;
  echoed: PromiseWithResolvers<void>;
  answered: PromiseWithResolvers<void>;
}

async function registerAdmin(url: string): Promise<string> {
  const { nonce } = await call<{ nonce: string }>(agent, url, 'GET', '/_synapse/admin/v1/register');
  const mac = createHmac('sha1', SECRET).update(`${nonce}\0chef\0bench password\0admin`).digest('hex');
  const res = await call(agent, url, 'POST', '/_synapse/admin/v1/register', undefined, { nonce, username: 'chef', password: 'bench password', admin: true, mac });
  return res.access_token as string;
}

async function sendAlert(url: string, adminToken: string, userId: string, title: string): Promise<string> {
  const res = await call(agent, url, 'POST', '/_tocsin/v1/alerts', adminToken, {
    severity: 'critical',
    title,
    body: 'Crue de la Seine : cellule de crise à 14h salle B. Confirmez votre présence.',
    audience: [userId],
    escalation: [{ after_s: 0, channels: ['matrix'] }],
  });
  return res.alert_id as string;
}

const delta = (a: EdgeCounters, b: EdgeCounters) => ({ down: b.down - a.down, up: b.up - a.up, connections: b.connections - a.connections });

/** Each exchange alone on an idle, warm link: what it costs on the wire. */
async function wireSizes(url: string, port: number, adminToken: string, user: { userId: string; token: string }) {
  const link = await EdgeLink.start({ target: { port }, ...LINK });
  const phone = new EdgePhone(link.url, user.token);
  try {
    const first = await phone.poll(undefined, 0); // opens the connection
    await sleep(200);
    let c = link.counters();
    const empty = await phone.poll(first.next, 0);
    const emptyPoll = delta(c, link.counters());
    const alertId = await sendAlert(url, adminToken, user.userId, 'Mesure');
    await sleep(200);
    c = link.counters();
    const withFrame = await phone.poll(empty.next, 0);
    if (!withFrame.alerts.some((a) => a.id === alertId)) throw new Error('the alert was not in the feed');
    const frameAnswer = delta(c, link.counters());
    await sleep(200);
    c = link.counters();
    await phone.ack(alertId);
    const ack = delta(c, link.counters());
    if (ack.connections > 0) throw new Error('the ack opened a connection: sizes would include its handshake');
    return {
      poll_request_up: emptyPoll.up,
      empty_feed_answer_down: emptyPoll.down,
      feed_answer_one_alert_down: frameAnswer.down,
      feed_answer_body_bytes: Buffer.byteLength(JSON.stringify(withFrame)),
      ack_request_up: ack.up,
      ack_answer_down: ack.down,
      floor_ms: round(2 * LINK.latencyMs + (frameAnswer.down * 8) / LINK.downKbps + (ack.up * 8) / LINK.upKbps),
    };
  } finally {
    await phone.close();
    await link.close();
  }
}

async function runScenario(name: string, url: string, port: number, adminToken: string, user: { userId: string; token: string }) {
  const opened = await openLink(name, port);
  const link = opened.link;
  const phone = new EdgePhone(link.url, user.token);
  const tracks = new Map<string, Track>();
  const track = (id: string) => {
    let t = tracks.get(id);
    if (!t) {
      tracks.set(id, (t = { echoed: Promise.withResolvers(), answered: Promise.withResolvers() }));
      t.answered.promise.catch(() => undefined); // awaited by the loop, or by nobody
    }
    return t;
  };
  let ackErrors = 0;
  // The app: acknowledge a new alert the moment its frame lands; note the feed's echo of it.
  const onFrame = (f: FeedFrame) => {
    const t = track(f.id);
    if (f.ack !== undefined) {
      t.echoed.resolve();
      return;
    }
    if (t.frameAt !== undefined) return;
    t.frameAt = performance.now();
    void phone.ack(f.id).then(
      () => {
        t.answeredAt = performance.now();
        t.answered.resolve();
      },
      (err: unknown) => {
        ackErrors++;
        t.answered.reject(err);
      },
    );
  };
  try {
    const start = await phone.poll(undefined, 0);
    const follower = phone.follow(start.next, onFrame, { timeoutMs: 60_000 });
    const samples: Sample[] = [];
    let firstAlert: Sample | undefined;
    await sleep(cfg.gapMs);
    for (let i = 0; i < cfg.warmup + cfg.alerts; i++) {
      const c0 = link.counters();
      const wall0 = Date.now();
      const t0 = performance.now();
      const alertId = await sendAlert(url, adminToken, user.userId, `Alerte ${name} ${i + 1}`);
      const p = track(alertId);
      const timeout = setTimeout(() => p.answered.reject(new Error(`alert ${alertId}: no acknowledgement after 60 s`)), 60_000);
      await p.answered.promise;
      clearTimeout(timeout);
      const status = await call(agent, url, 'GET', `/_tocsin/v1/alerts/${alertId}`, adminToken);
      const line = (status.recipients as Array<{ user_id: string; acknowledged_at: number | null; ack_channel: string | null }>).find((r) => r.user_id === user.userId);
      if (!line?.acknowledged_at || line.ack_channel !== 'app') throw new Error(`alert ${alertId}: not acknowledged by the app`);
      await Promise.race([p.echoed.promise, sleep(30_000)]);
      await sleep(cfg.gapMs); // the phone's next long-poll crosses; the link goes quiet
      const spent = delta(c0, link.counters());
      const sample: Sample = {
        alert_id: alertId,
        ack_ms: line.acknowledged_at - wall0,
        frame_ms: round(p.frameAt! - t0),
        answered_ms: round(p.answeredAt! - t0),
        down_bytes: spent.down,
        up_bytes: spent.up,
        connections_opened: spent.connections,
      };
      tracks.delete(alertId);
      if (i === 0) firstAlert = sample;
      if (i >= cfg.warmup) samples.push(sample);
      log(`${name} ${i < cfg.warmup ? 'warm-up' : `#${i - cfg.warmup + 1}`}: ack recorded ${sample.ack_ms} ms (frame ${sample.frame_ms} ms); ${sample.down_bytes} B down, ${sample.up_bytes} B up`);
    }
    await follower.stop();
    const sorted = (k: keyof Sample) => samples.map((s) => s[k] as number).sort((a, b) => a - b);
    const stats = (k: keyof Sample) => {
      const v = sorted(k);
      return { p50: percentile(v, 50), p95: percentile(v, 95), max: v.at(-1)! };
    };
    const mean = (k: keyof Sample) => round(samples.reduce((n, s) => n + (s[k] as number), 0) / samples.length);
    return {
      scenario: name,
      link: SCENARIOS[name],
      alerts: samples.length,
      ack_ms: stats('ack_ms'),
      frame_ms: stats('frame_ms'),
      answered_ms: stats('answered_ms'),
      bytes_per_alert: { down: mean('down_bytes'), up: mean('up_bytes') },
      first_alert: firstAlert,
      feed_polls_failed: follower.failures,
      ack_errors: ackErrors,
      samples,
    };
  } finally {
    await phone.close();
    await opened.close();
  }
}

async function runDatabase(kind: 'pglite' | 'postgres', logDir: string) {
  const database = await freshDatabase(kind, cfg.pgUrl);
  const server = await startServerProcess({ ...database.env, REGISTRATION_SHARED_SECRET: SECRET }, { logDir });
  try {
    const port = Number(new URL(server.url).port);
    const adminToken = await registerAdmin(server.url);
    const reg = await call(agent, server.url, 'POST', '/_matrix/client/v3/register', undefined, { username: 'manager', password: 'bench password', auth: { type: 'm.login.dummy' } });
    const user = { userId: reg.user_id as string, token: reg.access_token as string };
    log(`${kind}: server ${server.url} (pid ${server.pid}); measuring each exchange on an idle link`);
    const wire = await wireSizes(server.url, port, adminToken, user);
    const scenarios = [];
    for (const name of cfg.scenarios) scenarios.push(await runScenario(name, server.url, port, adminToken, user));
    return { database: kind, wire, scenarios };
  } finally {
    await server.stop();
    await database.drop();
  }
}

function markdown(report: any): string {
  const lines = [
    '# Alert-to-acknowledgement over an emulated EDGE link',
    '',
    `${report.date} · ${report.machine.cores} cores (${report.machine.cpu}) · Node ${report.node}`,
    '',
    `Link (userspace proxy, test/support/edge-link.ts): ${LINK.downKbps} kbit/s down, ${LINK.upKbps} kbit/s up, ${LINK.latencyMs} ms each way, TCP handshake round trip on new connections; \`stalls\`: the link also pauses 1 s every 10 s; \`tbf\`: the rate from the kernel's tbf (veth pair into a network namespace, burst 1600 B) instead of the proxy, which keeps the latency.`,
    `The phone follows the alert feed (long-poll) and acknowledges each alert as soon as its frame lands; ${cfg.alerts} alerts in sequence after ${cfg.warmup} warm-up alert(s).`,
    'ack: from the start of the sender\'s POST /_tocsin/v1/alerts to the acknowledgement recorded by the server (acknowledged_at). frame: to the frame landing on the phone; answer: to the ack\'s answer landing on the phone. Bytes: TCP payload that crossed the link for one alert (feed answer, ack and its answer, the feed\'s echo of the ack, the next long-polls); TCP/IP headers and TLS not included.',
    '',
    '| database | scenario | ack p50 ms | ack p95 ms | ack max ms | frame p50 ms | answer p50 ms | bytes/alert down | bytes/alert up | first alert ack ms |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of report.results) {
    for (const s of r.scenarios) {
      lines.push(`| ${r.database} | ${s.scenario} | ${s.ack_ms.p50} | ${s.ack_ms.p95} | ${s.ack_ms.max} | ${s.frame_ms.p50} | ${s.answered_ms.p50} | ${s.bytes_per_alert.down} | ${s.bytes_per_alert.up} | ${s.first_alert?.ack_ms ?? '-'} |`);
    }
  }
  lines.push('', '## Each exchange on the wire (idle, warm link)', '', '| database | poll request (up) | empty feed answer (down) | feed answer, one alert (down) | its JSON body | ack request (up) | ack answer (down) | floor ms |', '|---|---|---|---|---|---|---|---|');
  for (const r of report.results) {
    const w = r.wire;
    lines.push(`| ${r.database} | ${w.poll_request_up} | ${w.empty_feed_answer_down} | ${w.feed_answer_one_alert_down} | ${w.feed_answer_body_bytes} | ${w.ack_request_up} | ${w.ack_answer_down} | ${w.floor_ms} |`);
  }
  if (report.skipped.length > 0) lines.push('', ...report.skipped.map((s: string) => `Skipped: ${s}.`));
  lines.push('', '## Aim', '', ...report.aims.map((a: string) => `- ${a}`), '', 'Run: `sh scripts/node.sh server/bench/edge-ack.ts` (settings: BENCH_DB, BENCH_ALERTS, BENCH_WARMUP, BENCH_GAP_MS, BENCH_SCENARIOS).', '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const kinds: Array<'pglite' | 'postgres'> = cfg.db === 'both' ? ['pglite', 'postgres'] : [cfg.db as 'pglite' | 'postgres'];
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'tocsin-bench-logs-'));
  const results = [];
  for (const kind of kinds) results.push(await runDatabase(kind, logDir));
  await agent.close();
  const aims = results.flatMap((r) =>
    r.scenarios
      .filter((s) => s.scenario === 'steady')
      .map((s) => `${r.database}, steady link: ack p95 < 1500 ms: ${s.ack_ms.p95} ms (${s.ack_ms.p95 < 1500 ? 'met' : 'NOT met'}); the link's floor from the measured sizes: ${r.wire.floor_ms} ms`),
  );
  const report = {
    benchmark: 'edge-ack',
    date: new Date().toISOString(),
    machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown', platform: `${os.type()} ${os.release()}` },
    node: process.version,
    settings: { ...cfg, out: undefined, pgUrl: undefined, link: LINK },
    results,
    aims,
    skipped,
  };
  mkdirSync(cfg.out, { recursive: true });
  writeFileSync(path.join(cfg.out, 'edge-ack.json'), `${JSON.stringify(report, null, 2)}\n`);
  const md = markdown(report);
  writeFileSync(path.join(cfg.out, 'edge-ack.md'), md);
  process.stdout.write(`\n${md}\nwritten: ${path.join(cfg.out, 'edge-ack.json')} and .md (server logs in ${logDir})\n`);
}

await main();
