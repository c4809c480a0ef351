// Two nodes on one PostgreSQL, each with the LDAP sync scheduled: a run is claimed in the
// database, so that it never runs twice at once, and each schedule tick runs on one node only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAdmin, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, testDatabaseKind, type TestServer } from '../../support/server.ts';
import { startSlapd, type Slapd } from '../../support/slapd.ts';
import { SUFFIX, directoryConfigFile, group, person } from './ldap-fixture.ts';

const PEOPLE = 120;

interface Run {
  run_id: number;
  trigger: string;
  started_ts: number;
  finished_ts: number;
  report: { created: number; errors: string[]; slot?: number };
}

function overlapping(runs: Run[]): Array<[number, number]> {
  const sorted = [...runs].sort((a, b) => a.started_ts - b.started_ts);
  const out: Array<[number, number]> = [];
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.started_ts < sorted[i - 1]!.finished_ts) out.push([sorted[i - 1]!.run_id, sorted[i]!.run_id]);
  return out;
}

describe.skipIf(testDatabaseKind() !== 'postgres')('LDAP sync on two nodes of one PostgreSQL', () => {
  let slapd: Slapd;
  let a: TestServer;
  let b: TestServer;
  let admin: TestUser;
  const cleanups: Array<() => void> = [];

  const runs = async (): Promise<Run[]> =>
    (await a.services.db('directory_runs').orderBy('run_id')).map((r: Run & { report: unknown }) => ({
      ...r,
      started_ts: Number(r.started_ts),
      finished_ts: Number(r.finished_ts),
      report: typeof r.report === 'string' ? JSON.parse(r.report) : r.report,
    }));

  beforeAll(async () => {
    slapd = await startSlapd(SUFFIX);
    const names = Array.from({ length: PEOPLE }, (_, i) => `p${i}`);
    slapd.ldif([...names.map((n) => person(n, `Person ${n}`)), group('everyone', names)].join('\n'));
    const cfg = directoryConfigFile(slapd);
    cleanups.push(cfg.cleanup);
    a = await startTestServer(cfg.env);
    b = await startTestServer(cfg.env, { shareDatabaseOf: a });
    admin = await registerAdmin(a.url, 'dsi');
  }, 120_000);

  afterAll(async () => {
    await closeAllTestServers();
    await slapd?.close();
    for (const c of cleanups) c();
  });

  const syncOn = async (node: TestServer) => {
    const res = await fetch(`${node.url}/_tocsin/v1/admin/directory/sync`, { method: 'POST', headers: { authorization: `Bearer ${admin.token}` }, body: '{}' });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('runs asked of both nodes at once never overlap; the refused one is told why', async () => {
    // The API goes to whichever node the load balancer picks: both at once here, twice.
    const replies = [...(await Promise.all([syncOn(a), syncOn(b)])), ...(await Promise.all([syncOn(b), syncOn(a)]))];
    for (const r of replies) {
      if (r.status !== 200) expect(r).toMatchObject({ status: 409, body: { errcode: 'M_CONFLICT' } });
    }
    const all = await runs();
    expect(all.length).toBe(replies.filter((r) => r.status === 200).length);
    expect(overlapping(all)).toEqual([]);
    // Everybody was created once, by one run, and no run tripped over another's accounts.
    expect(all.reduce((n, r) => n + r.report.created, 0)).toBe(PEOPLE);
    expect(all.flatMap((r) => r.report.errors)).toEqual([]);
    expect(Number((await a.services.db('directory_accounts').count({ n: '*' }).first())!.n)).toBe(PEOPLE);
  }, 240_000);

  it('scheduled on both nodes: each tick runs on one node, never two runs at once', async () => {
    const cfg = directoryConfigFile(slapd, { schedule: '*/2 * * * * *' }); // every 2 seconds
    cleanups.push(cfg.cleanup);
    const before = (await runs()).length;
    const c = await startTestServer(cfg.env, { shareDatabaseOf: a });
    const d = await startTestServer(cfg.env, { shareDatabaseOf: a });
    try {
      for (let i = 0; i < 600 && (await runs()).filter((r) => r.trigger === 'schedule').length < 4; i++) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await c.stop();
      await d.stop();
    }
    const all = await runs();
    const scheduled = all.filter((r) => r.trigger === 'schedule');
    expect(scheduled.length).toBeGreaterThanOrEqual(4);
    expect(all.length).toBeGreaterThan(before);
    expect(overlapping(all)).toEqual([]);
    const slots = scheduled.map((r) => r.report.slot);
    expect(slots.every((x) => typeof x === 'number')).toBe(true);
    expect(new Set(slots).size).toBe(slots.length);
    expect(scheduled.flatMap((r) => r.report.errors)).toEqual([]);
  }, 240_000);
});
