/**
 * Alert fan-out benchmark. Run from the repository root:
 *
 *   sh scripts/node.sh server/bench/alert-fanout.ts
 *
 * One critical alert to 10,000 recipients on PostgreSQL, each with a web-push subscription at a
 * local push service, an email address and an E.164 phone. The plan is web push at once, then
 * SMS and email together a few seconds later (as DESIGN.md's last step). It measures the time
 * from the API call to the last web push received, dispatches per second per channel, the
 * server's CPU (/proc/<pid>/stat) and peak RSS (VmHWM), and writes
 * server/bench/results/alert-fanout.{json,md}.
 *
 * The real server runs as a child process on a fresh database created from BENCH_PG_URL and
 * dropped after. The receivers run in this process on 127.0.0.1: a push service that answers
 * 201 at once (it keeps a sample of the bodies, decrypted and VAPID-checked after the run as a
 * browser would), an SMTP server (smtp-server) that counts without parsing, and an SMSC (the
 * `smpp` package's server side) that answers each submit_sm. Recipients are written straight
 * into the database (no registration). Every phase is bounded in time and the run ends by itself.
 *
 * Settings (environment, or --name=value with the same name in lower case without BENCH_):
 *   BENCH_RECIPIENTS=10000  BENCH_LATER_STEP_S=8  BENCH_TIMEOUT_S=240
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test
 *   BENCH_SMS_RATE=10000 (the SMPP contract's submit_sm per second)  BENCH_SMS_WINDOW=100
 *   BENCH_SMTP_CONNECTIONS=10  BENCH_PUSH_CONNECTIONS=32 (channels.webpush.connections_per_origin)
 *   BENCH_ENCRYPTION_THREADS=<n> (channels.webpush.encryption_threads; the server's default when unset)
 *   BENCH_CPU_PROF=<dir> (runs the server with --cpu-prof into that directory)
 *   BENCH_OUT=<dir> (where results go; default server/bench/results)
 */
import { execFileSync } from 'node:child_process';
import { createECDH, type ECDH, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import smpp, { type Session } from 'smpp';
import { SMTPServer } from 'smtp-server';
import webpush from 'web-push';
import { openDatabase } from '../src/storage/db.ts';
import { seedRecipients, type SeedRecipient } from '../test/crisis/alerts/seed-recipients.ts';
import { decryptAes128gcm, verifyVapid } from '../test/support/webpush-receiver.ts';
import {
  cpuSecondsOf,
  freshDatabase,
  machineBusySeconds,
  memoryOf,
  postgresCpuSeconds,
  serverDir,
  sleep,
  startServerProcess,
  type ServerProcess,
} from './support.ts';

const argv = new Map(
  process.argv
    .slice(2)
    .map((a) => /^--([a-z_-]+)=(.*)$/.exec(a))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [`BENCH_${m[1]!.replace(/-/g, '_').toUpperCase()}`, m[2]!]),
);
const setting = (name: string, fallback: string) => argv.get(name) ?? process.env[name] ?? fallback;
const numberSetting = (name: string, fallback: number) => {
  const v = Number(setting(name, String(fallback)));
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};

const cfg = {
  recipients: Math.floor(numberSetting('BENCH_RECIPIENTS', 10_000)),
  laterStepS: Math.floor(numberSetting('BENCH_LATER_STEP_S', 8)),
  timeoutS: numberSetting('BENCH_TIMEOUT_S', 240),
  pgUrl: setting('BENCH_PG_URL', 'postgres://postgres@127.0.0.1:5432/test'),
  smsRate: numberSetting('BENCH_SMS_RATE', 10_000),
  smsWindow: Math.floor(numberSetting('BENCH_SMS_WINDOW', 100)),
  smtpConnections: Math.floor(numberSetting('BENCH_SMTP_CONNECTIONS', 10)),
  pushConnections: Math.floor(numberSetting('BENCH_PUSH_CONNECTIONS', 32)),
  encryptionThreads: setting('BENCH_ENCRYPTION_THREADS', ''),
  cpuProf: setting('BENCH_CPU_PROF', ''),
  out: setting('BENCH_OUT', path.join(serverDir, 'bench', 'results')),
};
if (cfg.encryptionThreads !== '' && !/^\d{1,2}$/.test(cfg.encryptionThreads)) throw new Error('BENCH_ENCRYPTION_THREADS must be a number of threads');
if (!['127.0.0.1', 'localhost'].includes(new URL(cfg.pgUrl).hostname)) throw new Error('BENCH_PG_URL must point to the local machine');

/** Pushes whose bodies are kept, decrypted and checked after the run. */
const SAMPLE_EVERY = 500;

const round = (n: number, d = 1) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : n);
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds per thread name of a process (MainThread, WorkerThread, V8Worker, libuv-worker...). */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLK_TCK);
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Arrival times (performance.now()) per recipient index, for one channel. */
class Arrivals {
  readonly at: number[] = [];
  readonly perRecipient = new Map<number, number>();
  unknown = 0;

  add(index: number | undefined): void {
    if (index === undefined) {
      this.unknown++;
      return;
    }
    this.at.push(performance.now());
    this.perRecipient.set(index, (this.perRecipient.get(index) ?? 0) + 1);
  }

  get unique(): number {
    return this.perRecipient.size;
  }

  get duplicates(): number {
    return this.at.length - this.perRecipient.size;
  }
}

interface Browser {
  ecdh: ECDH;
  auth: Buffer;
}

/** A push service that answers 201 at once, as FCM does, and keeps a sample of the bodies. */
async function startPushService(count: Arrivals) {
  const samples: { index: number; body: Buffer; headers: IncomingHttpHeaders }[] = [];
  let refused = 0;
  const server = createServer((req, res) => {
    const index = /^\/push\/(\d+)$/.exec(req.url ?? '')?.[1];
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const i = index === undefined ? undefined : Number(index);
      if (req.method !== 'POST' || i === undefined || req.headers['content-encoding'] !== 'aes128gcm' || !req.headers.authorization) {
        refused++;
        res.writeHead(400).end();
        return;
      }
      count.add(i);
      if (i % SAMPLE_EVERY === 0) samples.push({ index: i, body: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(201, { location: `/m/${i}-${count.at.length}` }).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    samples,
    get refused() {
      return refused;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** An SMTP server that counts messages per recipient address, without parsing them. */
async function startSmtp(count: Arrivals, indexOfEmail: Map<string, number>) {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    size: 1 << 20,
    onData: (stream, session, callback) => {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        for (const r of session.envelope.rcptTo) count.add(indexOfEmail.get(r.address));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** An SMSC: binds one transceiver, answers every submit_sm with a message id. */
async function startSmsc(count: Arrivals, indexOfPhone: Map<string, number>) {
  let nextId = 1;
  const sessions = new Set<Session>();
  const server = smpp.createServer({}, (session) => {
    sessions.add(session);
    session.on('error', () => session.destroy());
    session.on('close', () => sessions.delete(session));
    session.on('bind_transceiver', (pdu) => session.send(pdu.response({ system_id: 'BENCHSMSC' })));
    session.on('enquire_link', (pdu) => session.send(pdu.response()));
    session.on('unbind', (pdu) => {
      session.send(pdu.response());
      session.close();
    });
    session.on('submit_sm', (pdu) => {
      count.add(indexOfPhone.get(String(pdu.destination_addr)));
      session.send(pdu.response({ message_id: (nextId++).toString(16) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `smpp://bench:bench@127.0.0.1:${port}`,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * CPU µs of one RFC 8291 encryption by web-push 3.6.7 on this machine right now: the issue
 * measured about 140 µs on a quiet machine; a much higher figure means the cores are shared
 * (other processes, steal) and every other figure is inflated alike.
 */
function calibrate(): number {
  const ua = createECDH('prime256v1');
  ua.generateKeys();
  const p256dh = ua.getPublicKey().toString('base64url');
  const auth = randomBytes(16).toString('base64url');
  const payload = 'x'.repeat(300);
  for (let i = 0; i < 50; i++) webpush.encrypt(p256dh, auth, payload, 'aes128gcm');
  const before = process.cpuUsage();
  const n = 500;
  for (let i = 0; i < n; i++) webpush.encrypt(p256dh, auth, payload, 'aes128gcm');
  const used = process.cpuUsage(before);
  return round((used.user + used.system) / n, 0);
}

interface ChannelFigures {
  received: number;
  duplicates: number;
  /** From the API call (web push) or from the step's due time (later steps). */
  first_ms: number;
  last_ms: number;
  per_s: number;
}

function figures(a: Arrivals, from: number): ChannelFigures {
  const sorted = [...a.at].sort((x, y) => x - y);
  const first = sorted[0] ?? NaN;
  const last = sorted.at(-1) ?? NaN;
  return {
    received: a.unique,
    duplicates: a.duplicates,
    first_ms: round(first - from, 0),
    last_ms: round(last - from, 0),
    per_s: round(a.unique / ((last - from) / 1000), 0),
  };
}

async function main(): Promise<void> {
  const n = cfg.recipients;
  const pushes = new Arrivals();
  const mails = new Arrivals();
  const texts = new Arrivals();
  const phoneOf = (i: number) => `+336${String(10_000_000 + i).padStart(8, '0')}`;
  const emailOf = (i: number) => `r${i}@example.org`;
  const indexOfPhone = new Map(Array.from({ length: n }, (_, i) => [phoneOf(i).slice(1), i]));
  const indexOfEmail = new Map(Array.from({ length: n }, (_, i) => [emailOf(i), i]));

  const push = await startPushService(pushes);
  const smtp = await startSmtp(mails, indexOfEmail);
  const smsc = await startSmsc(texts, indexOfPhone);
  const database = await freshDatabase('postgres', cfg.pgUrl);
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'tocsin-bench-logs-'));
  let server: ServerProcess | undefined;
  try {
    const setupStart = performance.now();
    log(`seeding ${n} recipients (users, contacts, push subscriptions, group)`);
    const browsers: Browser[] = [];
    const recipients: SeedRecipient[] = [];
    for (let i = 0; i < n; i++) {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      browsers.push({ ecdh, auth });
      recipients.push({
        userId: `@r${i}:localhost`,
        email: emailOf(i),
        phone: phoneOf(i),
        push: { endpoint: `${push.origin}/push/${i}`, p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
      });
    }
    const seeding = await openDatabase({ dataDir: database.env.DATA_DIR!, databaseUrl: database.env.DATABASE_URL });
    const seeded = await seedRecipients(seeding.db, { groupId: 'everyone', recipients, adminLocalpart: 'benchadmin' });
    await seeding.close();

    const configFile = path.join(database.env.DATA_DIR!, 'tocsin.yaml');
    writeFileSync(
      configFile,
      [
        'channels:',
        `  email: { smtp_url: "${smtp.url}", from: "Tocsin <alertes@example.org>", max_connections: ${cfg.smtpConnections} }`,
        `  sms: { smpp: { url: "${smsc.url}", source: "TOCSIN", messages_per_second: ${cfg.smsRate}, max_in_flight: ${cfg.smsWindow} } }`,
        `  webpush: { subject: "mailto:dsi@example.org", connections_per_origin: ${cfg.pushConnections}${cfg.encryptionThreads !== '' ? `, encryption_threads: ${cfg.encryptionThreads}` : ''} }`,
        'outbound_allow_ranges: ["127.0.0.0/8"]',
      ].join('\n'),
    );
    const nodeArgs = cfg.cpuProf
      ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(cfg.cpuProf)}`, `--cpu-prof-name=server-alert-fanout-${Date.now()}.cpuprofile`]
      : [];
    if (cfg.cpuProf) mkdirSync(cfg.cpuProf, { recursive: true });
    server = await startServerProcess({ ...database.env, TOCSIN_CONFIG: configFile, PUBLIC_BASEURL: 'https://crise.example.org' }, { nodeArgs, logDir });
    const srv = server;
    // The SMSC session is bound before the alert, as in service.
    await sleep(1000);
    const calibrationUs = calibrate();
    log(`calibration: web-push encrypt costs ${calibrationUs} µs of CPU here now (about 140 µs on a quiet machine)`);
    const setupSeconds = (performance.now() - setupStart) / 1000;
    log(`server pid ${srv.pid} on ${srv.url}; set up in ${round(setupSeconds)} s`);

    const snap = () => ({ at: performance.now(), threads: threadCpu(srv.pid), server: cpuSecondsOf(srv.pid), postgres: postgresCpuSeconds(), machine: machineBusySeconds(), self: process.cpuUsage() });
    const loadBefore = os.loadavg().map((l) => round(l, 2));
    const s0 = snap();
    const t0 = s0.at;
    const res = await fetch(`${srv.url}/_tocsin/v1/alerts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${seeded.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        severity: 'critical',
        title: 'Alerte crue',
        body: 'Montez aux étages, ne prenez pas la voiture. Consignes sur le site de la préfecture.',
        audience: ['group:everyone'],
        escalation: [
          { after_s: 0, channels: ['webpush'] },
          { after_s: cfg.laterStepS, channels: ['sms', 'email'] },
        ],
      }),
    });
    const apiMs = performance.now() - t0;
    const created = (await res.json()) as { alert_id: string; recipients: number };
    if (res.status !== 200) throw new Error(`POST /alerts: ${res.status} ${JSON.stringify(created)}`);
    log(`alert ${created.alert_id} to ${created.recipients} recipients (API answered in ${round(apiMs, 0)} ms)`);

    const deadline = t0 + cfg.timeoutS * 1000;
    const waitFor = async (check: () => boolean) => {
      while (!check() && performance.now() < deadline) await sleep(2);
      return check();
    };
    const pushesDone = await waitFor(() => pushes.unique >= n);
    const s1 = snap();
    const push1 = figures(pushes, t0);
    log(`web push: ${pushes.unique}/${n} in ${push1.last_ms} ms (${push1.per_s}/s)`);

    const due = t0 + cfg.laterStepS * 1000;
    await waitFor(() => performance.now() >= due);
    const s2 = snap();
    const laterDone = await waitFor(() => texts.unique >= n && mails.unique >= n);
    const s3 = snap();
    const sms = figures(texts, due);
    const email = figures(mails, due);
    log(`SMS: ${texts.unique}/${n} by ${sms.last_ms} ms after due (${sms.per_s}/s); email: ${mails.unique}/${n} by ${email.last_ms} ms (${email.per_s}/s)`);
    const peak = memoryOf(srv.pid);
    const loadAfter = os.loadavg().map((l) => round(l, 2));

    // What the database says (every step recorded), read while the server still runs.
    const check = await openDatabase({ dataDir: database.env.DATA_DIR!, databaseUrl: database.env.DATABASE_URL, poolSize: 1 });
    const states = (await check.db('alert_deliveries').select('channel', 'state').count('* as n').groupBy('channel', 'state')) as Array<{ channel: string; state: string; n: string | number }>;
    await check.close();
    const dbStates: Record<string, Record<string, number>> = {};
    for (const r of states) (dbStates[r.channel] ??= {})[r.state] = Number(r.n);

    // A sample of the pushes, decrypted with the browser's keys and VAPID-checked.
    let verified = 0;
    const sampleErrors: string[] = [];
    for (const s of push.samples) {
      try {
        verifyVapid(String(s.headers.authorization), push.origin);
        const b = browsers[s.index]!;
        const payload = JSON.parse(decryptAes128gcm(s.body, b.ecdh, b.auth).toString('utf8')) as { id?: string; sev?: string; token?: string };
        if (payload.id !== created.alert_id || payload.sev !== 'critical' || !payload.token) throw new Error(`unexpected payload ${JSON.stringify(payload)}`);
        if (s.headers.urgency !== 'high' || !s.headers.ttl) throw new Error('missing Urgency or TTL');
        verified++;
      } catch (err) {
        sampleErrors.push(`push ${s.index}: ${(err as Error).message}`);
      }
    }

    const pct = (a: ReturnType<typeof snap>, b: ReturnType<typeof snap>, k: 'server' | 'postgres' | 'machine') => round(((b[k] - a[k]) / ((b.at - a.at) / 1000)) * 100, 0);
    const selfPct = (a: ReturnType<typeof snap>, b: ReturnType<typeof snap>) =>
      round(((b.self.user + b.self.system - a.self.user - a.self.system) / 1e6 / ((b.at - a.at) / 1000)) * 100, 0);
    /** The rest of the machine busy meanwhile (other processes, steal): high means noisy figures. */
    const otherPct = (a: ReturnType<typeof snap>, b: ReturnType<typeof snap>) =>
      round(pct(a, b, 'machine') - pct(a, b, 'server') - pct(a, b, 'postgres') - selfPct(a, b), 0);
    /** % of one core per server thread name during a phase (the busiest first). */
    const threadPct = (a: ReturnType<typeof snap>, b: ReturnType<typeof snap>) =>
      Object.fromEntries(
        [...b.threads]
          .map(([name, cpu]) => [name, round(((cpu - (a.threads.get(name) ?? 0)) / ((b.at - a.at) / 1000)) * 100, 0)] as const)
          .filter(([, v]) => v >= 1)
          .sort((x, y) => y[1] - x[1]),
      );
    const result = {
      recipients: n,
      complete: pushesDone && laterDone,
      setup_seconds: round(setupSeconds),
      api_ms: round(apiMs, 0),
      webpush: { ...push1, to_last_push_s: round(push1.last_ms / 1000, 2), refused: push.refused },
      sms,
      email,
      sample: { checked: push.samples.length, verified, errors: sampleErrors.slice(0, 5) },
      db_states: dbStates,
      push_phase: {
        seconds: round((s1.at - s0.at) / 1000, 2),
        server_cpu_s: round(s1.server - s0.server, 2),
        server_cpu_pct: pct(s0, s1, 'server'),
        server_threads_cpu_pct: threadPct(s0, s1),
        postgres_cpu_pct: pct(s0, s1, 'postgres'),
        receivers_cpu_pct: selfPct(s0, s1),
        other_cpu_pct: otherPct(s0, s1),
      },
      later_phase: {
        seconds: round((s3.at - s2.at) / 1000, 2),
        server_cpu_s: round(s3.server - s2.server, 2),
        server_cpu_pct: pct(s2, s3, 'server'),
        server_threads_cpu_pct: threadPct(s2, s3),
        postgres_cpu_pct: pct(s2, s3, 'postgres'),
        receivers_cpu_pct: selfPct(s2, s3),
        other_cpu_pct: otherPct(s2, s3),
      },
      server_cpu_ms_per_push: round(((s1.server - s0.server) * 1000) / Math.max(1, pushes.unique), 3),
      server_peak_rss_mb: round(peak.peakRssMb),
      calibration_webpush_encrypt_us: calibrationUs,
      /** 1, 5 and 15 min load averages of the machine before the alert and after the last step. */
      load_average: { before: loadBefore, after: loadAfter },
    };
    const machine = { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown', memory_gb: round(os.totalmem() / 2 ** 30), platform: `${os.type()} ${os.release()}` };
    const aims = [
      `${n} pushes out in < 2 s: ${result.webpush.to_last_push_s} s (${result.webpush.received === n && result.webpush.to_last_push_s < 2 ? 'met' : 'NOT met'}) on ${machine.cores} cores`,
    ];
    const report = {
      benchmark: 'alert-fanout',
      date: new Date().toISOString(),
      machine,
      node: process.version,
      settings: { ...cfg, out: undefined, pgUrl: undefined, sample_every: SAMPLE_EVERY },
      notes: [
        'The receivers (push service, SMTP, SMSC) run in the benchmark process on the same machine and share its cores; receivers CPU % is theirs.',
        'webpush.last_ms: from the POST /_tocsin/v1/alerts call to the last push received by the push service; per_s = pushes / that time.',
        'sms and email: from the time the later step is due to the last message received; per_s = messages / that time.',
        'CPU %: user + system as % of one core (200 % = both cores); postgres: every postgres process on the machine.',
        'other CPU %: the rest of the machine busy during the phase (other processes, hypervisor steal); figures taken while it is high are noisy. server_cpu_ms_per_push compares across noisy runs.',
      ],
      result,
      aims,
    };
    mkdirSync(cfg.out, { recursive: true });
    writeFileSync(path.join(cfg.out, 'alert-fanout.json'), `${JSON.stringify(report, null, 2)}\n`);
    const p = result.push_phase;
    const l = result.later_phase;
    const md = [
      '# Alert fan-out benchmark',
      '',
      `${report.date} · ${machine.cores} cores (${machine.cpu}) · ${machine.memory_gb} GB · Node ${report.node} · PostgreSQL`,
      '',
      `One critical alert to ${n} recipients (web push at once; SMS and email ${cfg.laterStepS} s later), each with a push subscription, an email address and a phone.`,
      `Push service connections per origin: ${cfg.pushConnections}; encryption threads: ${cfg.encryptionThreads || 'default (cores - 1)'}; SMPP window ${cfg.smsWindow}, ${cfg.smsRate} submit_sm/s allowed; SMTP connections: ${cfg.smtpConnections}.`,
      '',
      '| channel | received | duplicates | first ms | last ms | per s |',
      '|---|---|---|---|---|---|',
      `| webpush (from the API call) | ${result.webpush.received} | ${result.webpush.duplicates} | ${result.webpush.first_ms} | ${result.webpush.last_ms} | ${result.webpush.per_s} |`,
      `| sms (from the step's due time) | ${sms.received} | ${sms.duplicates} | ${sms.first_ms} | ${sms.last_ms} | ${sms.per_s} |`,
      `| email (from the step's due time) | ${email.received} | ${email.duplicates} | ${email.first_ms} | ${email.last_ms} | ${email.per_s} |`,
      '',
      '| phase | seconds | server CPU s | server CPU % | postgres CPU % | receivers CPU % | other CPU % |',
      '|---|---|---|---|---|---|---|',
      `| web push | ${p.seconds} | ${p.server_cpu_s} | ${p.server_cpu_pct} | ${p.postgres_cpu_pct} | ${p.receivers_cpu_pct} | ${p.other_cpu_pct} |`,
      `| SMS + email | ${l.seconds} | ${l.server_cpu_s} | ${l.server_cpu_pct} | ${l.postgres_cpu_pct} | ${l.receivers_cpu_pct} | ${l.other_cpu_pct} |`,
      '',
      `- server threads, % of one core (web push phase): ${JSON.stringify(p.server_threads_cpu_pct)}; (SMS + email phase): ${JSON.stringify(l.server_threads_cpu_pct)}`,
      `- POST /_tocsin/v1/alerts answered in ${result.api_ms} ms; server CPU per push ${result.server_cpu_ms_per_push} ms; server peak RSS ${result.server_peak_rss_mb} MB`,
      `- calibration: web-push's encrypt cost ${calibrationUs} µs of CPU on this machine during the run (about 140 µs on a quiet one): the higher, the more every figure here is inflated by shared cores`,
      `- load average (1, 5, 15 min) before the alert: ${loadBefore.join(', ')}; after the last step: ${loadAfter.join(', ')} (2 cores: above 2, other processes wait for a core)`,
      `- sample of pushes decrypted (RFC 8291) and VAPID-checked: ${verified}/${push.samples.length}`,
      `- delivery states in the database: ${JSON.stringify(dbStates)}`,
      '',
      '## Aims',
      '',
      ...aims.map((a) => `- ${a}`),
      '',
      'Run: `sh scripts/node.sh server/bench/alert-fanout.ts` (settings: BENCH_RECIPIENTS, BENCH_LATER_STEP_S, BENCH_SMS_RATE, BENCH_SMS_WINDOW, BENCH_SMTP_CONNECTIONS, BENCH_PUSH_CONNECTIONS, BENCH_ENCRYPTION_THREADS, BENCH_CPU_PROF).',
      '',
    ].join('\n');
    writeFileSync(path.join(cfg.out, 'alert-fanout.md'), md);
    process.stdout.write(`\n${md}\nwritten: ${path.join(cfg.out, 'alert-fanout.json')} and .md (server log in ${logDir})\n`);
    if (!result.complete || verified !== push.samples.length) process.exitCode = 1;
  } finally {
    await server?.stop();
    await Promise.all([push.close(), smtp.close(), smsc.close()]);
    await database.drop();
  }
}

await main();
