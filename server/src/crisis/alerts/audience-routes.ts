import { z } from 'zod';
import { invalidParam } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import type { CrisisServices } from '../crisis-services.ts';
import { AudienceSearch } from './audience-search.ts';

const V1 = '/_tocsin/v1';

export function audienceRoutes(s: Services, c: CrisisServices): RouteDef[] {
  const search = new AudienceSearch(s.db, s.config.serverName, (r) => c.alerts.canSend(r), [c.systemUser], (u) => s.appservices.exclusiveOwnerOfUser(u) !== undefined);
  return [
    userRoute('GET', `${V1}/audience/search`, async ({ requester, query }) => {
      let limit = 10;
      if (query.limit !== undefined) {
        if (!/^\d{1,3}$/.test(query.limit) || Number(query.limit) < 1) throw invalidParam('limit: a positive integer.');
        limit = Math.min(Number(query.limit), 50);
      }
      return { results: await search.search(requester, query.q ?? '', limit) };
    }),
    userRoute('POST', `${V1}/audience/count`, async ({ requester, body }) => ({ recipients: await search.count(requester, body.audience) }), {
      body: z.object({ audience: z.array(z.string().max(255)).min(1).max(500) }),
    }),
  ];
}
