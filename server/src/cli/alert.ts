import type { Command } from 'commander';
import type { Config } from '../config/config.ts';
import { remote } from './remote.ts';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function alertCommands(program: Command, config: () => Config): void {
  const alert = program.command('alert').description('send and follow alerts (through the running server)');

  alert
    .command('send [TEXT]')
    .description('send an alert; TEXT is "Title: body" or just the body (optional with --template)')
    .option('--to <audience>', '@user:server, group:NAME or !room:server (repeatable)', collect, [])
    .option('--template <name>', 'start from this alert template; the other options override it')
    .option('--severity <level>', 'info, warning or critical (default: the template\'s, else warning)')
    .option('--title <title>', 'title (default: the part of TEXT before ":")')
    .option('--drill', 'mark the alert as an exercise')
    .option('--token-file <file>', 'file holding an access token (or TOCSIN_TOKEN)')
    .option('--json', 'print the answer as JSON')
    .action(async (text: string | undefined, opts: { to: string[]; template?: string; severity?: string; title?: string; drill?: boolean; tokenFile?: string; json?: boolean }) => {
      if (text === undefined && opts.template === undefined) throw new Error('alert send: give the alert TEXT or --template NAME');
      if (opts.to.length === 0 && opts.template === undefined) throw new Error('alert send: give the audience with --to');
      const fields: Record<string, unknown> = {};
      if (text !== undefined) {
        let title = opts.title;
        let body = text;
        if (!title) {
          const colon = text.indexOf(':');
          title = colon > 0 && colon <= 120 ? text.slice(0, colon).trim() : text.slice(0, 60).trim();
          if (colon > 0 && colon <= 120) body = text.slice(colon + 1).trim() || text;
        }
        Object.assign(fields, { title, body });
      } else if (opts.title) {
        fields.title = opts.title;
      }
      const severity = opts.severity ?? (opts.template === undefined ? 'warning' : undefined);
      const res = await remote(config(), opts.tokenFile).call('POST', '/_tocsin/v1/alerts', {
        ...(opts.template !== undefined ? { template: opts.template } : {}),
        ...(severity !== undefined ? { severity } : {}),
        ...fields,
        ...(opts.to.length > 0 ? { audience: opts.to } : {}),
        ...(opts.drill ? { drill: true } : {}),
      });
      process.stdout.write(opts.json ? `${JSON.stringify(res)}\n` : `${res.alert_id}\t${res.recipients} recipients\n`);
    });

  alert
    .command('templates')
    .description('list the alert templates')
    .option('--token-file <file>', 'file holding an access token (or TOCSIN_TOKEN)')
    .option('--json', 'print the answer as JSON')
    .action(async (opts: { tokenFile?: string; json?: boolean }) => {
      const res = await remote(config(), opts.tokenFile).call('GET', '/_tocsin/v1/alert_templates');
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(res)}\n`);
        return;
      }
      for (const t of res.templates as Array<{ name: string; alert: { severity?: string; title?: string } }>) {
        process.stdout.write(`${t.name}\t${t.alert.severity ?? '-'}\t${t.alert.title ?? ''}\n`);
      }
    });

  alert
    .command('status ID')
    .description('who acknowledged, by which channel, who is still pending')
    .option('--token-file <file>', 'file holding an access token (or TOCSIN_TOKEN)')
    .option('--json', 'print the answer as JSON')
    .action(async (id: string, opts: { tokenFile?: string; json?: boolean }) => {
      const s = await remote(config(), opts.tokenFile).call('GET', `/_tocsin/v1/alerts/${encodeURIComponent(id)}`);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(s)}\n`);
        return;
      }
      process.stdout.write(`${s.alert_id}  ${s.severity}  ${s.state}  ${s.counts.acknowledged}/${s.counts.recipients} acknowledged\n`);
      for (const r of s.recipients as Array<{ user_id: string; acknowledged_at: number | null; ack_channel: string | null; deliveries: Array<{ channel: string; state: string }> }>) {
        const ack = r.acknowledged_at ? `ack ${new Date(r.acknowledged_at).toISOString()} via ${r.ack_channel}` : 'PENDING';
        const steps = r.deliveries.map((d) => `${d.channel}:${d.state}`).join(' ');
        process.stdout.write(`  ${r.user_id.padEnd(32)} ${ack.padEnd(40)} ${steps}\n`);
      }
    });
}
