import { z } from 'zod';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';

export function appserviceRoutes(s: Services): RouteDef[] {
  return [
    userRoute(
      'POST',
      '/_matrix/client/v1/appservice/:appserviceId/ping',
      ({ requester, params, body }) => s.appservices.ping(requester, params.appserviceId!, body.transaction_id),
      { body: z.object({ transaction_id: z.string().max(255).optional() }).loose() },
    ),
  ];
}
