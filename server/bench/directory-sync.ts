/**
 * Directory sync benchmark. Run from the repository root:
 *
 *   sh scripts/node.sh server/bench/directory-sync.ts
 *
 * A real slapd (Debian packages slapd, ldap-utils) on loopback, loaded with a generated
 * directory of BENCH_PEOPLE people in BENCH_GROUPS groups; the real server as a child process on
 * a fresh database. It times the first sync, a resync with no change and a resync after 1 % of
 * the people changed their phone, and reads the server's peak RSS (VmHWM). Results go to
 * server/bench/results/directory-sync.{json,md}.
 *
 * Settings (environment): BENCH_PEOPLE=100000  BENCH_GROUPS=500  BENCH_DB=pglite|postgres
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test  BENCH_OUT=<dir>
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { startSlapd } from '../test/support/slapd.ts';
import { freshDatabase, memoryOf, serverDir, startServerProcess } from './support.ts';

const PEOPLE = Number(process.env.BENCH_PEOPLE ?? 100_000);
const GROUPS = Number(process.env.BENCH_GROUPS ?? 500);
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
      },
    }),
  );
  const db = await freshDatabase(KIND, process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  const server = await startServerProcess({ ...db.env, TOCSIN_CONFIG: path.join(work, 'tocsin.yaml'), REGISTRATION_SHARED_SECRET: 'bench' }, { logDir: work });
  try {
    const { createHmac } = await import('node:crypto');
    const nonce = ((await (await fetch(`${server.url}/_synapse/admin/v1/register`)).json()) as { nonce: string }).nonce;
    const mac = createHmac('sha1', 'bench').update(`${nonce}\0dsi\0pw\0admin`).digest('hex');
    const reg = (await (await fetch(`${server.url}/_synapse/admin/v1/register`, { method: 'POST', body: JSON.stringify({ nonce, username: 'dsi', password: 'pw', admin: true, mac }) })).json()) as { access_token: string };
    const sync = async (body: Record<string, unknown> = {}) => {
      const t = performance.now();
      const res = await fetch(`${server.url}/_tocsin/v1/admin/directory/sync`, { method: 'POST', headers: { authorization: `Bearer ${reg.access_token}` }, body: JSON.stringify(body) });
      const report = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200 || report.stopped) throw new Error(`sync: ${res.status} ${JSON.stringify(report).slice(0, 300)}`);
      return { seconds: (performance.now() - t) / 1000, created: report.created, updated: report.updated };
    };
    const first = await sync();
    const noChange = await sync();
    const changed = Math.max(1, Math.floor(PEOPLE / 100));
    const mods: string[] = [];
    for (let i = 0; i < changed; i++) mods.push(`dn: uid=p${i * 100},ou=people,${SUFFIX}\nchangetype: modify\nreplace: mobile\nmobile: ${phone(i * 100, 1)}\n`);
    slapd.ldif(mods.join('\n'), 'modify');
    const onePercent = await sync();
    const mem = memoryOf(server.pid);
    const result = { people: PEOPLE, groups: GROUPS, database: KIND, ldap_load_s: loadS, first_sync: first, no_change_resync: noChange, one_percent_resync: onePercent, peak_rss_mb: Math.round(mem.peakRssMb), cpus: os.cpus().length };
    mkdirSync(OUT, { recursive: true });
    writeFileSync(path.join(OUT, 'directory-sync.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(
      path.join(OUT, 'directory-sync.md'),
      `# Directory sync (${PEOPLE} people, ${GROUPS} groups, ${KIND})\n\n| run | seconds | created | updated |\n|---|---|---|---|\n` +
        `| first sync | ${first.seconds.toFixed(1)} | ${first.created} | ${first.updated} |\n| no-change resync | ${noChange.seconds.toFixed(1)} | ${noChange.created} | ${noChange.updated} |\n| 1 % changed | ${onePercent.seconds.toFixed(1)} | ${onePercent.created} | ${onePercent.updated} |\n\nPeak RSS of the server: ${Math.round(mem.peakRssMb)} MB. Loading slapd took ${loadS.toFixed(1)} s.\n`,
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await server.stop();
    await db.drop();
    await slapd.close();
  }
}

await main();
