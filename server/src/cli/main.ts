#!/usr/bin/env node
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/config.ts';
import { createLogger } from '../logger.ts';
import { serveCommand } from './serve.ts';
import { alertCommands } from './alert.ts';
import { userCommands } from './user.ts';
import { directoryCommands } from './directory.ts';
import { deviceCommands } from './device.ts';
import { auditCommands } from './audit.ts';

/** One line on stderr and a non-zero exit: what an operator needs when a command fails. */
export function fail(message: string): never {
  process.stderr.write(`tocsin: ${message}\n`);
  process.exit(1);
}

const program = new Command('tocsin').description('Tocsin crisis-communication server').showHelpAfterError();

program
  .command('serve')
  .description('run the server (configuration from the environment and TOCSIN_CONFIG)')
  .action(async () => {
    await serveCommand(loadConfigOrFail());
  });

userCommands(program, loadConfigOrFail);
alertCommands(program, loadConfigOrFail);
directoryCommands(program, loadConfigOrFail);
deviceCommands(program, loadConfigOrFail);
auditCommands(program, loadConfigOrFail);

function loadConfigOrFail() {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration: ${err.message}`);
    throw err;
  }
}

program.parseAsync(process.argv).catch((err: unknown) => {
  const log = createLogger('error');
  log.error({ err }, 'command failed');
  fail(err instanceof Error ? err.message : String(err));
});
