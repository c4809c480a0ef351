import type { Knex } from 'knex';
import type { Logger } from '../logger.ts';
import * as jobsRepo from '../storage/periodic-jobs.ts';

export interface PeriodicJobOptions {
  name: string;
  intervalMs: number;
  /** Longer than a run can take: a node that dies mid-run frees the job after this. */
  leaseMs: number;
  run(now: number): Promise<unknown>;
}

/** How often a node asks whether a job is due: cheap (one UPDATE that usually matches nothing). */
const POLL_MS = 60_000;

/**
 * A job every node schedules and one node at a time runs: when it is next due lives in the
 * database (periodic_jobs), so a restart neither skips nor repeats it, and the claim is a lease,
 * so several nodes never run it at once and a dead node's run is taken over.
 */
export class PeriodicJob {
  readonly #db: Knex;
  readonly #log: Logger;
  readonly #opts: PeriodicJobOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<boolean> | undefined;
  #stopped = false;

  constructor(db: Knex, log: Logger, opts: PeriodicJobOptions) {
    this.#db = db;
    this.#log = log;
    this.#opts = opts;
  }

  async start(now = Date.now()): Promise<void> {
    // The first run of a new installation comes one interval after its first start.
    await jobsRepo.ensureJob(this.#db, this.#opts.name, now + this.#opts.intervalMs);
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Runs the job if it is due and no other node holds it; true when this call ran it. */
  tick(now = Date.now()): Promise<boolean> {
    this.#running ??= this.#tick(now).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #tick(now: number): Promise<boolean> {
    const { name, intervalMs, leaseMs } = this.#opts;
    if (!(await jobsRepo.claimJob(this.#db, name, now, leaseMs))) return false;
    let error: string | null = null;
    try {
      await this.#opts.run(now);
    } catch (err) {
      error = (err as Error).message;
      this.#log.error({ err, job: name }, 'periodic job failed');
    }
    await jobsRepo.finishJob(this.#db, name, Date.now(), Math.max(Date.now(), now) + intervalMs, error);
    return true;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.tick()
        .catch((err: unknown) => this.#log.warn({ err, job: this.#opts.name }, 'periodic job claim failed'))
        .finally(() => this.#schedule());
    }, Math.min(POLL_MS, this.#opts.intervalMs));
    this.#timer.unref();
  }
}
