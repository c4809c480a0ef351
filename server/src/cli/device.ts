import type { Command } from 'commander';
import type { Config } from '../config/config.ts';
import { remote } from './remote.ts';

const path = (userId: string, deviceId?: string) =>
  `/_tocsin/v1/admin/users/${encodeURIComponent(userId)}/devices${deviceId === undefined ? '' : `/${encodeURIComponent(deviceId)}`}`;

export function deviceCommands(program: Command, config: () => Config): void {
  const device = program.command('device').description("a person's devices and sessions: list, revoke a lost one (through the running server)");

  device
    .command('list USER_ID')
    .description("list a person's devices (an audited administrative read)")
    .option('--token-file <file>', 'file holding an administrator access token (or TOCSIN_TOKEN)')
    .option('--json', 'print the answer as JSON')
    .action(async (userId: string, opts: { tokenFile?: string; json?: boolean }) => {
      const res = await remote(config(), opts.tokenFile).call('GET', path(userId));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(res)}\n`);
        return;
      }
      for (const d of res.devices as Array<{ device_id: string; display_name: string | null; last_seen_ts: number | null; last_seen_ip: string | null }>) {
        const seen = d.last_seen_ts ? new Date(d.last_seen_ts).toISOString() : 'never';
        process.stdout.write(`${d.device_id}\t${d.display_name ?? ''}\t${seen}\t${d.last_seen_ip ?? ''}\n`);
      }
    });

  device
    .command('revoke USER_ID [DEVICE_ID]')
    .description('log a device out for good (its client wipes local data); --all for every device')
    .option('--all', 'revoke every device of the person')
    .option('--token-file <file>', 'file holding an administrator access token (or TOCSIN_TOKEN)')
    .action(async (userId: string, deviceId: string | undefined, opts: { all?: boolean; tokenFile?: string }) => {
      if (!opts.all && deviceId === undefined) throw new Error('name a DEVICE_ID, or give --all');
      if (opts.all && deviceId !== undefined) throw new Error('give a DEVICE_ID or --all, not both');
      const res = await remote(config(), opts.tokenFile).call('DELETE', path(userId, opts.all ? undefined : deviceId));
      const revoked = res.revoked as string[];
      process.stdout.write(`${revoked.length} device${revoked.length === 1 ? '' : 's'} revoked${revoked.length ? `: ${revoked.join(', ')}` : ''}\n`);
    });
}
