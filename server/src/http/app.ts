import compression from 'compression';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { badJson, invalidParam, missingToken, unrecognized } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { accessLog } from './access-log.ts';
import { matrixCors } from './cors.ts';
import { errorHandler, notFoundHandler, type ErrorFormat } from './error-handler.ts';
import { bareJsonContentType } from './json-answer.ts';
import { jsonBody } from './json-body.ts';
import { legacyR0Prefix } from './legacy-prefix.ts';
import type { Requester, RouteDef } from './route.ts';

export interface AppDeps {
  log: Logger;
  routes: RouteDef[];
  maxBodyBytes: number;
  /** Resolves an access token; throws M_UNKNOWN_TOKEN when it is not valid. */
  authenticate(token: string, req: Request): Promise<Requester>;
  /** Serves the PWA for paths no API route took (see client-app.ts). */
  client?: (req: Request, res: Response, next: NextFunction) => void;
  /** Error shapes of APIs that are not Matrix ones (SCIM). */
  errorFormats?: ErrorFormat[];
}

/** The access token from `Authorization: Bearer` or the deprecated `access_token` query parameter. */
export function tokenOf(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m ? m[1] : undefined;
  }
  const q = req.query.access_token;
  return typeof q === 'string' && q.length > 0 ? q : undefined;
}

function flatQuery(req: Request): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(req.query)) {
    // A repeated parameter keeps its first value; nested objects are not part of the API.
    const v = Array.isArray(value) ? value[0] : value;
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Repeated query keys become arrays, never nested objects (`a[b]=c` stays a plain key).
  app.set('query parser', 'simple');
  bareJsonContentType(app);
  app.use(accessLog(deps.log));
  app.use(
    helmet({
      // The API is fetched cross-origin by browser clients; media is embedded cross-origin.
      crossOriginResourcePolicy: { policy: 'cross-origin' },
      crossOriginOpenerPolicy: false,
      contentSecurityPolicy: false,
    }),
  );
  // From 512 bytes JSON shrinks by half or more (three alert feed frames: 590 -> 230 bytes);
  // below, gzip's own 18 bytes and chunked framing eat the gain (one frame: 214 -> 199).
  app.use(compression({ threshold: 512 }));
  app.use(matrixCors);
  app.use(legacyR0Prefix);

  const body = jsonBody(deps.maxBodyBytes);
  const router = express.Router();
  const paths = new Set<string>();
  for (const def of deps.routes) {
    paths.add(def.path);
    const handlers: Array<(req: Request, res: Response, next: NextFunction) => void> = [];
    if (!def.rawBody && def.method !== 'GET') handlers.push(body);
    handlers.push((req, res, next) => {
      void run(def, req, res).catch((err: unknown) => {
        // A body refused before it was read (a 413, a 401 on an upload): close the connection
        // after the answer instead of reading, say, 100 MB only to throw them away.
        if (def.rawBody && !req.readableEnded && !res.headersSent) res.setHeader('Connection', 'close');
        next(err);
      });
    });
    router[def.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete' | 'patch'](def.path, ...handlers);
  }
  // A known path with another method: 405 M_UNRECOGNIZED, as the spec asks.
  for (const p of paths) {
    router.all(p, (_req, res) => {
      res.status(405).json(unrecognized(405, 'Method not allowed').body());
    });
  }
  app.use(router);
  if (deps.client) app.use(deps.client);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log, deps.errorFormats));

  async function run(def: RouteDef, req: Request, res: Response): Promise<void> {
    const token = tokenOf(req);
    let requester: Requester | undefined;
    if (token && def.auth !== 'none') requester = await deps.authenticate(token, req);
    else if (def.auth === 'user') throw missingToken();

    const params = req.params as Record<string, string>;
    const query = flatQuery(req);
    // NUL cannot be stored or compared in PostgreSQL text: no identifier contains one.
    for (const [name, value] of [...Object.entries(params), ...Object.entries(query)]) {
      if (value?.includes('\0')) throw invalidParam(`${name} contains a NUL character.`);
    }

    // An empty body reads as {}; JSON `null` is a body, and not an object.
    let parsedBody: unknown = def.method === 'GET' || req.body === undefined ? {} : req.body;
    if (!def.rawBody && def.method !== 'GET') {
      if (parsedBody === null || typeof parsedBody !== 'object' || Array.isArray(parsedBody)) {
        throw badJson('Body must be a JSON object.');
      }
      if (def.body) parsedBody = def.body.parse(parsedBody);
    }
    const result = await def.handler({
      req,
      res,
      body: parsedBody,
      params,
      query,
      requester: requester as Requester,
    });
    if (!res.headersSent) res.status(200).json(result ?? {});
  }

  return app;
}
