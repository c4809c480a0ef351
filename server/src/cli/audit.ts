import type { Command } from 'commander';
import type { Config } from '../config/config.ts';
import { remote } from './remote.ts';

interface Entry {
  audit_id: number;
  ts: number;
  actor: string;
  action: string;
  target_user: string | null;
  details: Record<string, unknown>;
}

export function auditCommands(program: Command, config: () => Config): void {
  const audit = program.command('audit').description('the audit log: administrative reads of other people\'s data, device revocations (through the running server)');

  audit
    .command('list')
    .description('print the audit log, newest first')
    .option('--user <user_id>', 'only entries about this person')
    .option('--actor <user_id>', 'only entries by this administrator')
    .option('--action <action>', 'only this action (devices.read, device.revoke, contacts.read, ...)')
    .option('--limit <n>', 'entries per page (1 to 1000)', '100')
    .option('--from <token>', 'the next_batch token printed by the previous page')
    .option('--token-file <file>', 'file holding an administrator access token (or TOCSIN_TOKEN)')
    .option('--json', 'print the answer as JSON')
    .action(async (opts: { user?: string; actor?: string; action?: string; limit: string; from?: string; tokenFile?: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: opts.limit });
      if (opts.user) q.set('user', opts.user);
      if (opts.actor) q.set('actor', opts.actor);
      if (opts.action) q.set('action', opts.action);
      if (opts.from) q.set('from', opts.from);
      const res = await remote(config(), opts.tokenFile).call<{ entries: Entry[]; next_batch?: string }>('GET', `/_tocsin/v1/admin/audit?${q}`);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(res)}\n`);
        return;
      }
      for (const e of res.entries) {
        process.stdout.write(`${new Date(e.ts).toISOString()}\t${e.actor}\t${e.action}\t${e.target_user ?? '-'}\t${JSON.stringify(e.details)}\n`);
      }
      if (res.next_batch) process.stdout.write(`more: --from ${res.next_batch}\n`);
    });
}
