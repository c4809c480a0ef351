import type { Config } from '../config/config.ts';
import { createLogger } from '../logger.ts';
import { startServer } from '../server.ts';

export async function serveCommand(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const server = await startServer(config, log);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await server.close().catch((err: unknown) => log.error({ err }, 'shutdown failed'));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
