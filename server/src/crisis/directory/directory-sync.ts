import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import cron, { type ScheduledTask } from 'node-cron';
import { recordAudit } from '../../audit/audit-log.ts';
import { MatrixError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Services } from '../../services.ts';
import * as directoryRepo from '../../storage/directory.ts';
import * as usersRepo from '../../storage/users.ts';
import type { AlertService } from '../alerts/alert-service.ts';
import type { DirectoryConfig } from './directory-config.ts';
import type { DirectoryLifecycle } from './lifecycle.ts';
import { LdapSource, type DirectorySnapshot } from './ldap-source.ts';
import { accountsToRead, attributesOf, planSync, type PlannedAccount, type SyncPlan } from './sync-planner.ts';

export interface SyncRequest {
  dryRun: boolean;
  force: boolean;
  trigger: 'api' | 'schedule';
  requestedBy?: string;
  /** A scheduled run: its tick (unix seconds). Nodes that fire the same tick run it once. */
  slot?: number;
}

/** The answer of POST /_tocsin/v1/admin/directory/sync (DESIGN.md) and the stored run report. */
export interface SyncReport {
  run_id: number;
  dry_run: boolean;
  forced: boolean;
  created: number;
  updated: number;
  suspended: number;
  deprovisioned: number;
  reactivated: number;
  /** Gone from the directory, still within the grace period. */
  missing: number;
  /** The schedule tick of a scheduled run (unix seconds). */
  slot?: number;
  stopped?: string;
  /** The plan, with names: what this run did (or would do, in a dry run or when stopped). */
  plan: {
    create: Array<{ user_id: string; display_name: string | null }>;
    update: Array<{ user_id: string; display_name: string | null; fields: string[] }>;
    reactivate: Array<{ user_id: string; display_name: string | null }>;
    suspend: Array<{ user_id: string; display_name: string | null }>;
    deprovision: Array<{ user_id: string; display_name: string | null }>;
    missing: Array<{ user_id: string; display_name: string | null; missing_syncs: number }>;
    /** Members added and removed, by name up to MAX_GROUP_NAMES in all; beyond, counts only (`*_count`, `truncated`). */
    groups: Array<{ group: string; added: string[]; removed: string[]; added_count?: number; removed_count?: number; truncated?: true }>;
    skipped: Array<{ login: string; reason: string }>;
  };
  warnings: string[];
  errors: string[];
  started_ts: number;
  finished_ts: number;
}

export interface SyncProgress {
  running: boolean;
  phase?: 'reading' | 'applying';
  done?: number;
  total?: number;
}

/** The claim on the LDAP sync in the database: held this long, renewed every third of it while running. */
const CLAIM_LEASE_MS = 120_000;
const CLAIM = 'ldap';

const MAX_LISTED = 1000; // names kept per list in a report; the counts stay exact
/** Member names kept over all groups of a report (a first sync adds everybody to their groups). */
const MAX_GROUP_NAMES = 10_000;
/** People written per transaction when creating, updating or refreshing accounts. */
const BATCH = 500;

/**
 * LDAP synchronisation: on demand and on a schedule; one run at a time, also across the nodes
 * sharing a PostgreSQL (each node runs the schedule; the run is claimed in the database).
 */
export class DirectorySync {
  readonly #s: Services;
  readonly #cfg: DirectoryConfig;
  readonly #lifecycle: DirectoryLifecycle;
  readonly #alerts: AlertService;
  readonly #systemUser: string;
  readonly #log: Logger;
  readonly #source: LdapSource | undefined;
  #task: ScheduledTask | undefined;
  #progress: SyncProgress = { running: false };
  #running: Promise<unknown> | undefined;
  readonly #claimLeaseMs: number;
  /** This node in the claim's holder column (host, process, and a random part for tests that run two in one process). */
  readonly #node = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  #runs = 0;
  #claimLost = false;

  constructor(deps: { s: Services; cfg: DirectoryConfig; lifecycle: DirectoryLifecycle; alerts: AlertService; systemUser: string; log: Logger; claimLeaseMs?: number }) {
    this.#claimLeaseMs = deps.claimLeaseMs ?? CLAIM_LEASE_MS;
    this.#s = deps.s;
    this.#cfg = deps.cfg;
    this.#lifecycle = deps.lifecycle;
    this.#alerts = deps.alerts;
    this.#systemUser = deps.systemUser;
    this.#log = deps.log;
    this.#source = deps.cfg.ldap ? new LdapSource(deps.cfg.ldap) : undefined;
  }

  get ldap(): LdapSource | undefined {
    return this.#source;
  }

  get progress(): SyncProgress {
    return { ...this.#progress };
  }

  startSchedule(): void {
    const schedule = this.#cfg.ldap?.schedule;
    if (!schedule || !this.#source) return;
    this.#task = cron.schedule(schedule, async () => {
      if (this.#running) return; // the previous run is still going: skip this tick
      // Every node fires the tick: the one that claims it runs it, the others skip it.
      const slot = Math.round(Date.now() / 1000);
      await this.run({ dryRun: false, force: false, trigger: 'schedule', slot }).catch((err: unknown) => {
        if (err instanceof MatrixError && err.errcode === 'M_CONFLICT') this.#log.debug({ slot }, 'scheduled directory sync: claimed by another node');
        else this.#log.error({ err }, 'scheduled directory sync failed');
      });
    });
  }

  async stop(): Promise<void> {
    await this.#task?.stop();
    await this.#running?.catch(() => undefined);
  }

  async run(req: SyncRequest): Promise<SyncReport> {
    if (!this.#source) throw new MatrixError(400, 'M_UNRECOGNIZED', 'No LDAP directory is configured (directory.ldap).');
    if (this.#running) throw new MatrixError(409, 'M_CONFLICT', 'A directory sync is already running.');
    const running = this.#claimed(this.#source, req);
    this.#running = running;
    try {
      return await running;
    } finally {
      this.#running = undefined;
      this.#progress = { running: false };
    }
  }

  /** Runs under the database claim, renewed while the run goes on and released at its end. */
  async #claimed(source: LdapSource, req: SyncRequest): Promise<SyncReport> {
    const { db } = this.#s;
    const holder = `${this.#node}:${++this.#runs}`;
    const lease = this.#claimLeaseMs;
    if (!(await directoryRepo.claimSync(db, CLAIM, holder, Date.now(), lease, req.slot))) {
      throw new MatrixError(409, 'M_CONFLICT', req.slot === undefined ? 'A directory sync is already running on another node.' : 'This scheduled directory sync was run by another node.');
    }
    this.#claimLost = false;
    const renew = setInterval(() => {
      directoryRepo
        .renewSyncClaim(db, CLAIM, holder, Date.now(), lease)
        .then((held) => {
          if (!held) this.#claimLost = true;
        })
        .catch((err: unknown) => this.#log.warn({ err }, 'could not renew the directory sync claim'));
    }, Math.max(1000, Math.floor(lease / 3)));
    renew.unref();
    try {
      return await this.#run(source, req);
    } finally {
      clearInterval(renew);
      await directoryRepo.releaseSyncClaim(db, CLAIM, holder).catch((err: unknown) => this.#log.warn({ err }, 'could not release the directory sync claim'));
    }
  }

  async #run(source: LdapSource, req: SyncRequest): Promise<SyncReport> {
    const started = Date.now();
    this.#progress = { running: true, phase: 'reading', done: 0 };
    let snapshot: DirectorySnapshot | undefined;
    let ldapError: string | undefined;
    try {
      snapshot = await source.snapshot((read) => (this.#progress = { running: true, phase: 'reading', done: read }));
    } catch (err) {
      ldapError = `LDAP error: ${describeLdapError(err)}`;
    }
    const { db } = this.#s;
    const lc = this.#cfg.lifecycle;
    const userIdOf = (login: string) => this.#lifecycle.userIdOf(login);
    const known: PlannedAccount[] = await directoryRepo.compactAccountsOfSource(db, 'ldap');
    // The stored attributes are read only where the fingerprints differ (changed people).
    const toRead = await directoryRepo.attributesOfAccounts(db, accountsToRead(snapshot?.people ?? [], known, userIdOf));
    for (const k of known) {
      const attributes = toRead.get(k.user_id);
      if (attributes) k.attributes = attributes;
    }
    const groupMembers = await directoryRepo.groupsOfSource(db, 'ldap');
    const people = snapshot?.people ?? [];
    const knownIds = new Set(known.map((k) => k.user_id));
    const candidates = people.map((p) => this.#lifecycle.userIdOf(p.login)).filter((u): u is string => u !== undefined && !knownIds.has(u));
    const localUsers = new Set((await usersRepo.findUsers(db, candidates)).keys());
    const plan = planSync({
      people,
      known,
      groupMembers,
      directoryGroups: new Set(snapshot?.groups.keys() ?? []),
      localUsers,
      userIdOf: (login) => this.#lifecycle.userIdOf(login),
      deprovisionAfter: lc.deprovision_after_missing_syncs,
      maxChangeShare: lc.max_change_share,
    });
    if (ldapError) plan.stopped = ldapError;
    // Force goes past the share and the empty result, never past an LDAP error: with no
    // answer from the directory, everyone would look gone.
    const stopped = ldapError ?? (plan.stopped && !req.force ? plan.stopped : undefined);
    const errors: string[] = [];
    if (!req.dryRun && !stopped) await this.#apply(plan, snapshot!, errors);
    const applied = !req.dryRun && !stopped;
    const counted = applied || req.dryRun;
    const report: SyncReport = {
      run_id: 0,
      dry_run: req.dryRun,
      forced: req.force,
      created: counted ? plan.create.length : 0,
      updated: counted ? plan.update.length : 0,
      suspended: counted ? plan.suspend.length : 0,
      deprovisioned: counted ? plan.deprovision.length : 0,
      reactivated: counted ? plan.reactivate.length : 0,
      missing: counted ? plan.missing.length : 0,
      ...(req.slot !== undefined ? { slot: req.slot } : {}),
      ...(stopped ? { stopped } : {}),
      plan: summarise(plan),
      warnings: (snapshot?.warnings ?? []).slice(0, MAX_LISTED),
      errors: errors.slice(0, MAX_LISTED),
      started_ts: started,
      finished_ts: Date.now(),
    };
    const previous = (await directoryRepo.listRuns(db, 1))[0];
    report.run_id = await directoryRepo.insertRun(db, {
      trigger: req.trigger,
      requested_by: req.requestedBy ?? null,
      dry_run: req.dryRun,
      forced: req.force,
      stopped: stopped ?? null,
      started_ts: started,
      finished_ts: report.finished_ts,
      report: report as unknown as Record<string, unknown>,
    });
    this.#log.info({ run: report.run_id, created: report.created, updated: report.updated, suspended: report.suspended, deprovisioned: report.deprovisioned, stopped }, 'directory sync');
    // One alert per new reason: a directory down for hours does not page admins every 15 min.
    if (stopped && !req.dryRun && previous?.stopped !== stopped) await this.#alertAdmins(stopped);
    return report;
  }

  async #apply(plan: SyncPlan, snapshot: DirectorySnapshot, errors: string[]): Promise<void> {
    const lc = this.#lifecycle;
    const total = plan.create.length + plan.update.length + plan.reactivate.length + plan.suspend.length + plan.unchanged.length + plan.deprovision.length + plan.groups.length;
    let done = 0;
    let lostReported = false;
    const step = async (what: string, fn: () => Promise<unknown>, count = 1) => {
      // Our lease ran out (a node stalled for minutes): another node may be running; stop writing.
      if (this.#claimLost) {
        if (!lostReported) errors.push('the claim on the sync ran out before the end: the rest was left to the next run');
        lostReported = true;
        return;
      }
      try {
        const more = await fn();
        if (Array.isArray(more)) errors.push(...(more as string[]));
      } catch (err) {
        errors.push(`${what}: ${(err as Error).message}`);
        this.#log.warn({ err, what }, 'directory sync step failed');
      }
      const before = done;
      done += count;
      if (Math.floor(before / 50) !== Math.floor(done / 50) || done === total) this.#progress = { running: true, phase: 'applying', done, total };
    };
    this.#progress = { running: true, phase: 'applying', done, total };
    // New hires, updates and refreshed rows go in batches: a few statements and one commit per
    // batch instead of several round trips per person (a first sync of 100,000 people).
    for (const batch of chunks(plan.create, BATCH)) {
      await step(`create ${batch[0]!.user_id}..`, () => lc.provisionMany('ldap', batch.map((c) => ({ externalId: c.person.dn, userId: c.user_id, attrs: attributesOf(c.person) }))), batch.length);
    }
    for (const r of plan.reactivate) {
      await step(`reactivate ${r.user_id}`, async () => {
        await lc.reactivate(r.user_id);
        await lc.update('ldap', r.person.dn, r.user_id, attributesOf(r.person), false);
        return lc.enterRoomsOfGroups(r.user_id, r.person.groups);
      });
    }
    for (const batch of chunks(plan.update, BATCH)) {
      await step(
        `update ${batch[0]!.user_id}..`,
        () => lc.updateMany('ldap', batch.map((u) => ({ externalId: u.person.dn, userId: u.user_id, attrs: attributesOf(u.person), renamed: u.fields.includes('display_name') }))),
        batch.length,
      );
    }
    for (const s of plan.suspend) {
      await step(`suspend ${s.user_id}`, async () => {
        await lc.update('ldap', s.person.dn, s.user_id, attributesOf(s.person), true);
        await lc.suspend(s.user_id, 'disabled in the directory');
      });
    }
    // Unchanged people whose row is stale: refreshed (groups, missing counter back to 0).
    for (const batch of chunks(plan.unchanged, BATCH)) {
      await step(
        'refresh',
        () => directoryRepo.upsertAccounts(this.#s.db, batch.map((u) => ({ user_id: u.user_id, source: 'ldap' as const, external_id: u.person.dn, disabled: u.person.disabled, attributes: attributesOf(u.person) }))),
        batch.length,
      );
    }
    for (const m of groupedByCount(plan.missing)) await directoryRepo.setMissingSyncs(this.#s.db, m.userIds, m.count);
    for (const d of plan.deprovision) await step(`deprovision ${d.user_id}`, () => lc.deprovision(d.user_id, 'Removed from the directory'));
    for (const g of plan.groups) {
      await step(`group ${g.group}`, () => lc.changeGroup('ldap', g.group, snapshot.groups.get(g.group)?.name ?? g.group, g.added, g.removed));
    }
  }

  async #alertAdmins(reason: string): Promise<void> {
    const admins = await usersRepo.listAdmins(this.#s.db);
    if (admins.length === 0) {
      this.#log.error({ reason }, 'directory sync stopped by the safety net, and there is no administrator to alert');
      return;
    }
    try {
      await this.#alerts.create(
        { userId: this.#systemUser, deviceId: 'directory-sync', isAdmin: true, tokenHash: '' },
        { severity: 'warning', title: 'Directory sync stopped', body: `Nothing was changed: ${reason}`.slice(0, 480), audience: admins.slice(0, 200) },
      );
    } catch (err) {
      this.#log.error({ err, reason }, 'could not alert administrators about a stopped directory sync');
    }
  }

  async runs(limit: number): Promise<directoryRepo.RunRow[]> {
    return directoryRepo.listRuns(this.#s.db, limit);
  }

  /** A run's report names people (created, suspended, removed...): reading it is audited. */
  async runReport(runId: number, readerId: string): Promise<directoryRepo.RunRow | undefined> {
    const run = await directoryRepo.findRun(this.#s.db, runId);
    if (run) await recordAudit(this.#s.db, this.#log, { actor: readerId, action: 'directory.run.read', target_user: null, details: { run_id: runId } });
    return run;
  }
}

/** The group changes of a report: names up to `budget` in all, then counts only. */
export function groupsSummary(groups: SyncPlan['groups'], budget = MAX_GROUP_NAMES): SyncReport['plan']['groups'] {
  return groups.map((g) => {
    const added = g.added.slice(0, Math.max(0, budget));
    budget -= added.length;
    const removed = g.removed.slice(0, Math.max(0, budget));
    budget -= removed.length;
    if (added.length === g.added.length && removed.length === g.removed.length) return { group: g.group, added, removed };
    return { group: g.group, added, removed, added_count: g.added.length, removed_count: g.removed.length, truncated: true as const };
  });
}

function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

function groupedByCount(missing: Array<{ user_id: string; missing_syncs: number }>): Array<{ count: number; userIds: string[] }> {
  const by = new Map<number, string[]>();
  for (const m of missing) {
    const list = by.get(m.missing_syncs) ?? [];
    list.push(m.user_id);
    by.set(m.missing_syncs, list);
  }
  return [...by].map(([count, userIds]) => ({ count, userIds }));
}

function summarise(plan: SyncPlan): SyncReport['plan'] {
  const names = <T extends { user_id: string; display_name: string | null }>(list: T[]) => list.slice(0, MAX_LISTED).map((x) => ({ user_id: x.user_id, display_name: x.display_name }));
  return {
    create: names(plan.create),
    update: plan.update.slice(0, MAX_LISTED).map((x) => ({ user_id: x.user_id, display_name: x.display_name, fields: x.fields })),
    reactivate: names(plan.reactivate),
    suspend: names(plan.suspend),
    deprovision: names(plan.deprovision),
    missing: plan.missing.slice(0, MAX_LISTED).map((x) => ({ user_id: x.user_id, display_name: x.display_name, missing_syncs: x.missing_syncs })),
    groups: groupsSummary(plan.groups.slice(0, MAX_LISTED)),
    skipped: plan.skipped.slice(0, MAX_LISTED),
  };
}

/** One line naming what went wrong, never the bind password. */
function describeLdapError(err: unknown): string {
  const e = err as { code?: unknown; message?: string };
  const msg = (e.message ?? String(err)).split('\n')[0]!.slice(0, 300);
  return typeof e.code === 'number' ? `${msg} (code ${e.code})` : msg;
}
