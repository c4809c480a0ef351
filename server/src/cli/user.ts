import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../config/config.ts';
import { MatrixError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { AccountService } from '../matrix/auth/accounts.ts';
import { localpartOf, userIdOf } from '../matrix/auth/user-ids.ts';
import { loadOrCreateSigningKey } from '../matrix/events/signing-key-file.ts';
import { buildServices } from '../services.ts';
import { openConfiguredDatabase } from '../storage/open.ts';
import * as usersRepo from '../storage/users.ts';

async function readPassword(file: string | undefined): Promise<string> {
  if (file) return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  if (process.stdin.isTTY) throw new Error('give --password-file FILE, or pipe the password on standard input');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export function userCommands(program: Command, config: () => Config): void {
  const user = program.command('user').description('manage local accounts');

  user
    .command('create NAME')
    .description('create a local account (password from --password-file or standard input)')
    .option('--admin', 'make the account a server administrator')
    .option('--password-file <file>', 'file holding the password')
    .action(async (name: string, opts: { admin?: boolean; passwordFile?: string }) => {
      const cfg = config();
      const password = await readPassword(opts.passwordFile);
      if (password.length === 0) throw new Error('the password is empty');
      const database = await openConfiguredDatabase(cfg);
      try {
        const accounts = new AccountService({ db: database.db, serverName: cfg.serverName });
        const userId = await accounts.createAccount({ localpart: localpartOf(name, cfg.serverName), password, admin: opts.admin ?? false });
        process.stdout.write(`${userId}\n`);
      } catch (err) {
        if (err instanceof MatrixError) throw new Error(err.message);
        throw err;
      } finally {
        await database.close();
      }
    });

  user
    .command('list')
    .description('list accounts')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { json?: boolean }) => {
      const database = await openConfiguredDatabase(config());
      try {
        for (const u of await usersRepo.listUsers(database.db)) {
          if (opts.json) {
            process.stdout.write(`${JSON.stringify({ user_id: u.user_id, admin: u.admin, deactivated: u.deactivated, displayname: u.displayname })}\n`);
          } else {
            const flags = [u.admin ? 'admin' : '', u.deactivated ? 'deactivated' : ''].filter(Boolean).join(',');
            process.stdout.write(`${u.user_id}${flags ? `\t${flags}` : ''}\n`);
          }
        }
      } finally {
        await database.close();
      }
    });

  user
    .command('deactivate NAME')
    .description('deactivate an account: logged out everywhere, out of every room')
    .action(async (name: string) => {
      const cfg = config();
      const database = await openConfiguredDatabase(cfg);
      try {
        const userId = userIdOf(localpartOf(name, cfg.serverName), cfg.serverName);
        const existing = await usersRepo.findUser(database.db, userId);
        if (!existing) throw new Error(`no such user: ${userId}`);
        const key = await loadOrCreateSigningKey(cfg.dataDir, cfg.serverName);
        const services = await buildServices(cfg, createLogger('warn'), database.db, key);
        await services.deactivateUser(userId);
        await services.close();
        process.stdout.write(`${userId} deactivated\n`);
      } finally {
        await database.close();
      }
    });
}
