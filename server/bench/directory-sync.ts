/**
 * Directory sync benchmark. Run from the repository root:
 *
 *   sh scripts/node.sh server/bench/directory-sync.ts
 *
 * A real slapd (Debian packages slapd, ldap-utils) on loopback, loaded with a generated
 * directory of BENCH_PEOPLE people in BENCH_GROUPS groups, the first BENCH_ROOMS groups each
 * opening a room (directory.rooms: their members join it); the real server as a child process on
 * a fresh database. It times the first sync, a resync with no change and a resync after 1 % of
 * the people changed their phone (half of them their name too), and reads the server's peak RSS
 * (VmHWM, reset after the admin's registration so that its argon2 hash does not count), the CPU
 * seconds of the server and of PostgreSQL per run, and the load average. Results go to
 * server/bench/results/directory-sync.{json,md}.
 *
 * Settings (environment): BENCH_PEOPLE=100000  BENCH_GROUPS=500  BENCH_ROOMS=10
 *   BENCH_DB=pglite|postgres  BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test  BENCH_OUT=<dir>
 *   BENCH_NODE_ARGS="--max-semi-space-size=4" (flags for the server's node)  MALLOC_ARENA_MAX=2
 *   BENCH_KEEP_LOG=1 (print where the server's log is)
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { startSlapd } from '../test/support/slapd.ts';
import { cpuSecondsOf, freshDatabase, memoryOf, postgresCpuSeconds, serverDir, startServerProcess } from './support.ts';

const PEOPLE = Number(process.env.BENCH_PEOPLE ?? 100_000);
const GROUPS = Number(process.env.BENCH_GROUPS ?? 500);
const ROOMS = Math.min(GROUPS, Number(process.env.BENCH_ROOMS ?? 10));
const KIND = (process.env.BENCH_DB ?? 'pglite') as 'pglite' | 'postgres';
const OUT = process.env.BENCH_OUT ?? path.join(serverDir, 'bench/results');
const SUFFIX = 'dc=example,dc=org';

const phone = (i: number, v = 0) => `+3361${String((i * 7 + v) % 10_000_000).padStart(7, '0')}`;

function peopleLdif(from: number, to: number): string {
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    out.push(`dn: uid=p${i},ou=people,${SUFFIX}\nobjectClass: inetOrgPerson\nuid: p${i}\ncn: Person ${i}\nsn: ${i}\nmail: p${i}@example.org\nmobile: ${phone(i)}\n`);
  }
  return out.join('\n');
}

function groupsLdif(): string {
  const out: string[] = [];
  for (let g = 0; g < GROUPS; g++) {
    const members: string[] = [];
    for (let i = g; i < PEOPLE; i += GROUPS) members.push(`member: uid=p${i},ou=people,${SUFFIX}`);
    if (members.length === 0) members.push(`member: uid=p0,ou=people,${SUFFIX}`);
    out.push(`dn: cn=g${g},ou=groups,${SUFFIX}\nobjectClass: groupOfNames\ncn: g${g}\n${members.join('\n')}\n`);
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'tocsin-bench-dir-'));
  const slapd = await startSlapd(SUFFIX);
  const loadStart = performance.now();
  for (let i = 0; i < PEOPLE; i += 5000) slapd.ldif(peopleLdif(i, Math.min(PEOPLE, i + 5000)));
  slapd.ldif(groupsLdif());
  const loadS = (performance.now() - loadStart) / 1000;
  writeFileSync(path.join(work, 'pw'), slapd.rootPassword);
  writeFileSync(
    path.join(work, 'tocsin.yaml'),
    stringify({
      directory: {
        ldap: {
          url: slapd.url,
          bind_dn: slapd.rootDn,
          bind_password_file: path.join(work, 'pw'),
          base_dn: `ou=people,${SUFFIX}`,
          groups: { base_dn: `ou=groups,${SUFFIX}` },
          schedule: '0 0 1 1 *',
          timeout_ms: 600_000,
        },
        rooms: Object.fromEntries(Array.from({ length: ROOMS }, (_, g) => [`g${g}`, [`#bench-g${g}:localhost`]])),
      },
    }),
  );
  const db = await freshDatabase(KIND, process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const server = await startServerProcess({ ...db.env, TOCSIN_CONFIG: path.join(work, 'tocsin.yaml'), REGISTRATION_SHARED_SECRET: 'bench' }, { logDir: work, nodeArgs });
  try {
    const { createHmac } = await import('node:crypto');
    const nonce = ((await (await fetch(`${server.url}/_synapse/admin/v1/register`)).json()) as { nonce: string }).nonce;
    const mac = createHmac('sha1', 'bench').update(`${nonce}\0dsi\0pw\0admin`).digest('hex');
    const reg = (await (await fetch(`${server.url}/_synapse/admin/v1/register`, { method: 'POST', body: JSON.stringify({ nonce, username: 'dsi', password: 'pw', admin: true, mac }) })).json()) as { access_token: string };
    for (let g = 0; g < ROOMS; g++) {
      const res = await fetch(`${server.url}/_matrix/client/v3/createRoom`, { method: 'POST', headers: { authorization: `Bearer ${reg.access_token}` }, body: JSON.stringify({ preset: 'private_chat', room_alias_name: `bench-g${g}` }) });
      if (res.status !== 200) throw new Error(`createRoom: ${res.status} ${await res.text()}`);
    }
    // The admin's registration hashed a password with argon2 (64 MiB): the sync's peak is measured from here.
    const rssBefore = memoryOf(server.pid).rssMb;
    let peakOfRuns = 0;
    const resetPeak = () => {
      peakOfRuns = Math.max(peakOfRuns, memoryOf(server.pid).peakRssMb);
      try {
        writeFileSync(`/proc/${server.pid}/clear_refs`, '5');
      } catch {
        // not allowed here: the peak then includes start-up and registration
      }
    };
    resetPeak();
    peakOfRuns = 0;
    const sync = async (body: Record<string, unknown> = {}) => {
      const t = performance.now();
      const cpu0 = cpuSecondsOf(server.pid);
      const pg0 = KIND === 'postgres' ? postgresCpuSeconds() : 0;
      const res = await fetch(`${server.url}/_tocsin/v1/admin/directory/sync`, { method: 'POST', headers: { authorization: `Bearer ${reg.access_token}` }, body: JSON.stringify(body) });
      const report = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200 || report.stopped) throw new Error(`sync: ${res.status} ${JSON.stringify(report).slice(0, 300)}`);
      const cpu = cpuSecondsOf(server.pid) - cpu0;
      const peak = memoryOf(server.pid).peakRssMb;
      resetPeak();
      const pgCpu = KIND === 'postgres' ? postgresCpuSeconds() - pg0 : 0;
      return { seconds: (performance.now() - t) / 1000, server_cpu_s: cpu, postgres_cpu_s: pgCpu, created: report.created, updated: report.updated, errors: (report.errors as unknown[]).length, peak_rss_mb: Math.round(peak), load_avg: os.loadavg().map((x) => Math.round(x * 10) / 10) };
    };
    const first = await sync();
    const noChange = await sync();
    const changed = Math.max(1, Math.floor(PEOPLE / 100));
    const mods: string[] = [];
    for (let i = 0; i < changed; i++) mods.push(`dn: uid=p${i * 100},ou=people,${SUFFIX}\nchangetype: modify\nreplace: mobile\nmobile: ${phone(i * 100, 1)}\n${i % 2 === 0 ? `-\nreplace: cn\ncn: Person ${i * 100} bis\n` : ''}`);
    slapd.ldif(mods.join('\n'), 'modify');
    const onePercent = await sync();
    resetPeak();
    const mem = { peakRssMb: peakOfRuns };
    const result = { people: PEOPLE, groups: GROUPS, database: KIND, ldap_load_s: loadS, first_sync: first, no_change_resync: noChange, one_percent_resync: onePercent, rooms: ROOMS, node_args: nodeArgs.join(' '), malloc_arena_max: process.env.MALLOC_ARENA_MAX ?? null, rss_before_sync_mb: Math.round(rssBefore), peak_rss_mb: Math.round(mem.peakRssMb), cpus: os.cpus().length };
    mkdirSync(OUT, { recursive: true });
    writeFileSync(path.join(OUT, 'directory-sync.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(
      path.join(OUT, 'directory-sync.md'),
      `# Directory sync (${PEOPLE} people, ${GROUPS} groups, ${ROOMS} of them opening a room, ${KIND})\n\n` +
        `Server CPU and PostgreSQL CPU are seconds of CPU used during the run (utime + stime); the load\n` +
        `average (1, 5, 15 min) is read at the end of each run: the machine is shared, wall-clock times are inflated by it.\n\n` +
        `| run | seconds | server CPU s | PostgreSQL CPU s | server CPU ms/person | peak RSS MB | created | updated | errors | load average |\n|---|---|---|---|---|---|---|---|---|---|\n` +
        [['first sync', first], ['no-change resync', noChange], ['1 % changed', onePercent]]
          .map(([name, r]) => {
            const x = r as Awaited<ReturnType<typeof sync>>;
            return `| ${name} | ${x.seconds.toFixed(1)} | ${x.server_cpu_s.toFixed(1)} | ${x.postgres_cpu_s.toFixed(1)} | ${((x.server_cpu_s * 1000) / PEOPLE).toFixed(3)} | ${x.peak_rss_mb} | ${x.created} | ${x.updated} | ${x.errors} | ${x.load_avg.join(' ')} |`;
          })
          .join('\n') +
        `\n\nServer RSS before the first sync: ${Math.round(rssBefore)} MB; peak RSS from there to the end: ${Math.round(mem.peakRssMb)} MB. Loading slapd took ${loadS.toFixed(1)} s.\n` +
        `Server settings: node ${nodeArgs.join(' ') || '(no flags)'}, MALLOC_ARENA_MAX ${process.env.MALLOC_ARENA_MAX ?? '(unset)'}.\n`,
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await server.stop();
    if (process.env.BENCH_KEEP_LOG) process.stdout.write(`server log: ${server.logFile}\n`);
    await db.drop();
    await slapd.close();
  }
}

await main();
