import { forbidden, invalidParam, notFound } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import * as filtersRepo from '../../storage/filters.ts';
import { parseFilter, resolveFilter } from './filters.ts';

const V3 = '/_matrix/client/v3';

export function syncRoutes(s: Services): RouteDef[] {
  return [
    userRoute('GET', `${V3}/sync`, async ({ requester, query, req, res }) => {
      const timeout = query.timeout === undefined ? 0 : Number(query.timeout);
      if (!Number.isFinite(timeout) || timeout < 0) throw invalidParam('timeout must be a non-negative number.');
      if (query.full_state !== undefined && query.full_state !== 'true' && query.full_state !== 'false') {
        throw invalidParam('full_state must be true or false.');
      }
      const setPresence = query.set_presence ?? 'online';
      if (setPresence !== 'online' && setPresence !== 'offline' && setPresence !== 'unavailable') {
        throw invalidParam('set_presence must be online, offline or unavailable.');
      }
      const filter = await resolveFilter(s.db, requester.userId, query.filter);
      // A client that goes away ends its long-poll at once.
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      req.socket.setTimeout(0);
      // Presence follows the sync: online while it lasts, offline some time after the last ends.
      const syncEnded = await s.presence.syncing(requester.userId, setPresence);
      try {
        return await s.sync.sync(requester, {
          since: query.since,
          timeoutMs: timeout,
          filter,
          fullState: query.full_state === 'true',
          signal: abort.signal,
        });
      } finally {
        syncEnded();
      }
    }),

    userRoute('POST', `${V3}/user/:userId/filter`, async ({ requester, params, body }) => {
      if (params.userId !== requester.userId) throw forbidden('Cannot create filters for other users.');
      const filter = parseFilter(body);
      return { filter_id: await filtersRepo.insertFilter(s.db, requester.userId, filter) };
    }),

    userRoute('GET', `${V3}/user/:userId/filter/:filterId`, async ({ requester, params }) => {
      if (params.userId !== requester.userId) throw forbidden('Cannot read filters of other users.');
      const filter = await filtersRepo.findFilter(s.db, requester.userId, params.filterId!);
      if (filter === undefined) throw notFound('No such filter.');
      return filter;
    }),
  ];
}
