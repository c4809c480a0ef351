// A periodic job shared by several nodes: due time in the database, one runner at a time, a
// dead runner's lease taken over, and the next run scheduled after each one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeriodicJob } from '../../src/jobs/periodic.ts';
import { createLogger } from '../../src/logger.ts';
import { openDatabase } from '../../src/storage/db.ts';
import { claimJob, findJob } from '../../src/storage/periodic-jobs.ts';
import { openTestDb, type TestDb } from '../support/crisis-db.ts';

const log = createLogger('silent');
const HOUR = 3600_000;

describe('periodic jobs', () => {
  let t: TestDb;

  beforeAll(async () => {
    t = await openTestDb();
  });

  afterAll(async () => {
    await t.close();
  });

  it('runs a due job on one node only, and schedules the next run', async () => {
    const runs: string[] = [];
    const make = (node: string, db = t.db) =>
      new PeriodicJob(db, log, {
        name: 'test-once',
        intervalMs: HOUR,
        leaseMs: 10 * 60_000,
        run: async () => {
          runs.push(node);
          // Long enough that the other node asks while this one runs.
          await new Promise((r) => setTimeout(r, 200));
        },
      });
    // On PostgreSQL the second node has connections of its own, as another process would.
    const connection = (t.db.client as { config: { client: unknown; connection: unknown } }).config;
    const second = connection.client === 'pg' && typeof connection.connection === 'string' ? await openDatabase({ dataDir: t.dataDir, databaseUrl: connection.connection }) : undefined;
    const a = make('a');
    const b = make('b', second?.db ?? t.db);
    const now = Date.now();
    await a.start(now - 2 * HOUR);
    await b.start(now);
    await a.stop();
    await b.stop();
    // Not due yet: nobody runs it.
    expect(await Promise.all([a.tick(now - 2 * HOUR), b.tick(now - 2 * HOUR)])).toEqual([false, false]);
    // Due: both nodes ask at once, one runs it.
    const ran = await Promise.all([a.tick(now), b.tick(now)]);
    expect(ran.filter(Boolean)).toHaveLength(1);
    expect(runs).toHaveLength(1);
    const job = await findJob(t.db, 'test-once');
    expect(job!.next_run_ts).toBeGreaterThanOrEqual(now + HOUR);
    expect(job!.last_error).toBeNull();
    // Not again before the interval.
    expect(await Promise.all([a.tick(now + 1000), b.tick(now + 1000)])).toEqual([false, false]);
    await second?.close();
  });

  it('records a failed run, and lets another node take over an expired lease', async () => {
    let attempts = 0;
    const job = new PeriodicJob(t.db, log, {
      name: 'test-fails',
      intervalMs: HOUR,
      leaseMs: 60_000,
      run: async () => {
        attempts++;
        throw new Error('disk full');
      },
    });
    const now = Date.now();
    await job.start(now - HOUR);
    await job.stop();
    expect(await job.tick(now)).toBe(true);
    expect(attempts).toBe(1);
    expect((await findJob(t.db, 'test-fails'))!.last_error).toBe('disk full');

    // A node claims the job and dies: until its lease runs out nobody else may run it.
    await t.db('periodic_jobs').where({ name: 'test-fails' }).update({ next_run_ts: now });
    expect(await claimJob(t.db, 'test-fails', now, 60_000)).toBe(true);
    expect(await job.tick(now + 30_000)).toBe(false);
    expect(await job.tick(now + 61_000)).toBe(true);
    expect(attempts).toBe(2);
  });
});
