import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/config.ts';
import { createApp } from './http/app.ts';
import { DEFAULT_CLIENT_DIR, clientApp } from './http/client-app.ts';
import { allRoutes, allSocketRoutes } from './http/router.ts';
import { attachWebSockets } from './http/websocket.ts';
import type { Logger } from './logger.ts';
import { loadOrCreateSigningKey } from './matrix/events/signing-key-file.ts';
import { buildCrisisServices, type CrisisServices } from './crisis/crisis-services.ts';
import { scimErrorFormat } from './crisis/directory/scim-routes.ts';
import { buildServices, type Services } from './services.ts';
import { openConfiguredDatabase } from './storage/open.ts';

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  crisis: CrisisServices;
  close(): Promise<void>;
}

/** The server could not listen: a one-line message for the operator. */
export class ListenError extends Error {}

const DEFAULT_MAX_BODY = 2 * 1024 * 1024;

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const database = await openConfiguredDatabase(config);
  if (database.kind === 'pglite') {
    log.warn(
      { dataDir: config.dataDir },
      'embedded database (PGlite): commits survive a killed process but not a power cut (its fsync is off); set DATABASE_URL to PostgreSQL for production',
    );
  }
  const signingKey = await loadOrCreateSigningKey(config.dataDir, config.serverName);
  const services = await buildServices(config, log, database.db, signingKey);
  const crisis = await buildCrisisServices(services, log);
  const app = createApp({
    log,
    routes: allRoutes(services, crisis),
    maxBodyBytes: config.file.limits?.max_body_bytes ?? DEFAULT_MAX_BODY,
    // An application service's as_token first (it may masquerade with ?user_id=), then users' tokens.
    authenticate: async (token, req) => (await services.appservices.authenticate(token, req)) ?? services.accounts.authenticate(token),
    client: clientApp(DEFAULT_CLIENT_DIR, log),
    errorFormats: [scimErrorFormat],
  });
  const server = createServer(app);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, '::', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // A taken port or a refused address: release what started, and say which port.
    await crisis.close().catch(() => undefined);
    await services.close().catch(() => undefined);
    await database.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ListenError(`PORT ${config.port} is already in use`);
    if (code === 'EACCES') throw new ListenError(`PORT ${config.port} may not be opened by this user`);
    throw err;
  }
  const detachSockets = attachWebSockets(server, allSocketRoutes(services, crisis), (token) => services.accounts.authenticate(token), log);
  // Long-polls last up to the client's timeout (30 s for matrix-js-sdk) plus slack.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  const port = (server.address() as AddressInfo).port;
  log.info({ port, serverName: config.serverName, database: database.kind }, 'tocsin listening');
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    services,
    crisis,
    close: async () => {
      detachSockets();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await crisis.close();
      await services.close();
      await database.close();
    },
  };
}
