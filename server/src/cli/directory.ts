import type { Command } from 'commander';
import type { Config } from '../config/config.ts';
import type { SyncReport } from '../crisis/directory/directory-sync.ts';
import { remote, type Remote } from './remote.ts';

/** Exit status of a run the safety net stopped: scripts tell it from a failure to run at all. */
export const EXIT_STOPPED = 3;

/** A one-line progress bar on stderr, redrawn while the server works (only on a terminal). */
async function showProgress(api: Remote, until: Promise<unknown>): Promise<void> {
  if (!process.stderr.isTTY) return;
  let finished = false;
  void until.finally(() => (finished = true)).catch(() => undefined);
  let drawn = false;
  while (!finished) {
    await new Promise((r) => setTimeout(r, 500));
    if (finished) break;
    const p = await api.call<{ running: boolean; phase?: string; done?: number; total?: number }>('GET', '/_tocsin/v1/admin/directory/sync').catch(() => undefined);
    if (!p?.running) continue;
    const width = 30;
    const line =
      p.total && p.total > 0
        ? `${p.phase} [${'#'.repeat(Math.round((width * (p.done ?? 0)) / p.total)).padEnd(width, '.')}] ${p.done}/${p.total}`
        : `${p.phase} ${p.done ?? 0} entries`;
    process.stderr.write(`\r${line.padEnd(70)}`);
    drawn = true;
  }
  if (drawn) process.stderr.write(`\r${' '.repeat(70)}\r`);
}

function printPlan(r: SyncReport): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const who = (x: { user_id: string; display_name: string | null }) => `${x.user_id}${x.display_name ? ` (${x.display_name})` : ''}`;
  const verb = r.dry_run ? 'would' : r.stopped ? 'would have' : 'did';
  out(`${r.dry_run ? 'Dry run' : `Run ${r.run_id}`}: ${verb} create ${r.plan.create.length}, update ${r.plan.update.length}, reactivate ${r.plan.reactivate.length}, suspend ${r.plan.suspend.length}, deprovision ${r.plan.deprovision.length}; ${r.plan.missing.length} missing (grace)`);
  for (const x of r.plan.create) out(`  create       ${who(x)}`);
  for (const x of r.plan.update) out(`  update       ${who(x)}: ${x.fields.join(', ')}`);
  for (const x of r.plan.reactivate) out(`  reactivate   ${who(x)}`);
  for (const x of r.plan.suspend) out(`  suspend      ${who(x)}`);
  for (const x of r.plan.deprovision) out(`  deprovision  ${who(x)}`);
  for (const x of r.plan.missing) out(`  missing      ${who(x)} (${x.missing_syncs} run${x.missing_syncs > 1 ? 's' : ''})`);
  for (const g of r.plan.groups) {
    if (g.added.length > 0) out(`  group ${g.group}: + ${g.added.join(', ')}`);
    if (g.removed.length > 0) out(`  group ${g.group}: - ${g.removed.join(', ')}`);
    if (g.truncated) out(`  group ${g.group}: ${g.added_count} added, ${g.removed_count} removed in all (names left out of the report)`);
  }
  for (const s of r.plan.skipped) out(`  skipped      ${s.login}: ${s.reason}`);
  for (const w of r.warnings) out(`  warning      ${w}`);
  for (const e of r.errors) out(`  error        ${e}`);
  if (r.stopped) out(`STOPPED by the safety net, nothing changed: ${r.stopped}`);
}

export function directoryCommands(program: Command, config: () => Config): void {
  const directory = program.command('directory').description('directory (LDAP) synchronisation, through the running server');

  directory
    .command('sync')
    .description('synchronise accounts with LDAP now; exits 3 when the safety net stops the run')
    .option('--dry-run', 'print the plan, change nothing')
    .option('--force', 'go past the safety net (a large change, an empty result)')
    .option('--token-file <file>', 'file holding an administrator access token (or TOCSIN_TOKEN)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { dryRun?: boolean; force?: boolean; tokenFile?: string; json?: boolean }) => {
      const api = remote(config(), opts.tokenFile);
      const call = api.call<SyncReport>('POST', '/_tocsin/v1/admin/directory/sync', { dry_run: opts.dryRun ?? false, ...(opts.force ? { force: true } : {}) });
      await showProgress(api, call);
      const report = await call;
      if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else printPlan(report);
      if (report.stopped) {
        process.stderr.write(`tocsin: directory sync stopped: ${report.stopped}\n`);
        process.exit(EXIT_STOPPED);
      }
    });

  directory
    .command('runs')
    .description('the latest synchronisation runs')
    .option('--token-file <file>', 'file holding an administrator access token (or TOCSIN_TOKEN)')
    .option('--json', 'print the answer as JSON')
    .action(async (opts: { tokenFile?: string; json?: boolean }) => {
      const res = await remote(config(), opts.tokenFile).call('GET', '/_tocsin/v1/admin/directory/runs');
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(res)}\n`);
        return;
      }
      for (const r of res.runs as Array<Record<string, unknown>>) {
        const flags = [r.dry_run ? 'dry-run' : '', r.forced ? 'forced' : '', r.stopped ? `STOPPED: ${r.stopped}` : ''].filter(Boolean).join(' ');
        process.stdout.write(`${r.run_id}\t${new Date(r.started_ts as number).toISOString()}\t${r.trigger}\t+${r.created} ~${r.updated} s${r.suspended} -${r.deprovisioned}\t${flags}\n`);
      }
    });
}
