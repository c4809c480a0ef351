import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Agent, request } from 'undici';

/** Bench helpers: a real server as a child process, its CPU and memory, a lean HTTP client. */

export const serverDir = path.resolve(import.meta.dirname, '..');

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

const benchArgs = new Map(
  process.argv
    .slice(2)
    .map((a) => /^--([a-z_-]+)=(.*)$/.exec(a))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [`BENCH_${m[1]!.replace(/-/g, '_').toUpperCase()}`, m[2]!]),
);

/** A bench setting: `--name=value` on the command line, else BENCH_NAME in the environment, else `fallback`. */
export function benchSetting(name: string, fallback: string): string {
  return benchArgs.get(name) ?? process.env[name] ?? fallback;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** CPU seconds used by every PostgreSQL process on the machine (server and backends). */
export function postgresCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm === 'postgres') total += cpuSecondsOf(Number(entry));
    } catch {
      // the process went away
    }
  }
  return total;
}

/**
 * CPU seconds spent by the PostgreSQL backends serving one database (its connections' processes,
 * found in pg_stat_activity): the share of the database's work that one server causes, apart
 * from whatever else the shared PostgreSQL serves. A backend that ends meanwhile is not counted.
 */
export async function databaseBackendsCpuSeconds(databaseUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const rows = (await c.query('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows as Array<{ pid: number }>;
    let total = 0;
    for (const r of rows) {
      try {
        total += cpuSecondsOf(r.pid);
      } catch {
        // the backend ended
      }
    }
    return total;
  } finally {
    await c.end();
  }
}

/** CPU seconds the whole machine has spent busy (every core, idle and iowait left out). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  const busy = v[0]! + v[1]! + v[2]! + v[5]! + v[6]! + v[7]!;
  return busy / CLK_TCK;
}

/** VmHWM (peak resident set) and VmRSS of a process, in MB. */
export function memoryOf(pid: number): { peakRssMb: number; rssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { peakRssMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface BenchDatabase {
  kind: 'pglite' | 'postgres';
  env: Record<string, string>;
  drop(): Promise<void>;
}

/** A fresh PGlite data directory, or a fresh PostgreSQL database created from `baseUrl`. */
export async function freshDatabase(kind: 'pglite' | 'postgres', baseUrl: string): Promise<BenchDatabase> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tocsin-bench-'));
  if (kind === 'pglite') {
    return { kind, env: { DATA_DIR: dataDir }, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const name = `tocsin_bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    kind,
    env: { DATA_DIR: dataDir, DATABASE_URL: url.toString() },
    drop: async () => {
      rmSync(dataDir, { recursive: true, force: true });
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `node src/cli/main.ts serve` and waits until it answers /versions. */
export async function startServerProcess(env: Record<string, string>, opts: { nodeArgs?: string[]; logDir: string }): Promise<ServerProcess> {
  const port = await freePort();
  const logFile = path.join(opts.logDir, `server-${port}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), 'src/cli/main.ts', 'serve'], {
    cwd: serverDir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      PORT: String(port),
      SERVER_NAME: 'localhost',
      ENABLE_REGISTRATION: 'true',
      RATE_LIMITS: 'off',
      LOG_LEVEL: 'warn',
      // glibc's allocator tuning, when the operator sets it, applies to the server as well.
      ...(process.env.MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}; see ${logFile}`);
    try {
      const res = await fetch(`${url}/_matrix/client/versions`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start; see ${logFile}`);
    }
    await sleep(100);
  }
  return {
    child,
    pid: child.pid!,
    url,
    logFile,
    stop: async (graceMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Keep-alive connections, enough for every long-poll plus the senders. */
export function makeAgent(connections: number): Agent {
  return new Agent({ connections, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 120_000, headersTimeout: 0, bodyTimeout: 0, pipelining: 1 });
}

export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** One JSON call; throws HttpError on a non-200 answer. */
export async function call<T = any>(agent: Agent, url: string, method: string, path: string, token?: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(url + path, {
    method: method as 'GET',
    headers,
    body: body !== undefined ? JSON.stringify(body) : null,
    dispatcher: agent,
    ...(signal ? { signal } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new HttpError(res.statusCode, `${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
