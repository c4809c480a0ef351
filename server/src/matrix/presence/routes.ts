import { z } from 'zod';
import { forbidden, invalidParam, notFound } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { findUser } from '../../storage/users.ts';
import { isValidUserId } from '../events/identifiers.ts';

const PATH = '/_matrix/client/v3/presence/:userId/status';

export function presenceRoutes(s: Services): RouteDef[] {
  const store = s.presence;
  const known = async (userId: string) => {
    if (!isValidUserId(userId)) throw invalidParam('Invalid user id.');
    const user = await findUser(s.db, userId);
    if (!user) throw notFound('Unknown user.');
  };
  return [
    userRoute('GET', PATH, async ({ params }) => {
      await known(params.userId!);
      return store.get(params.userId!);
    }),
    userRoute(
      'PUT',
      PATH,
      async ({ requester, params, body }) => {
        if (params.userId !== requester.userId) throw forbidden('You may only set your own presence.');
        await store.set(requester.userId, body.presence, body.status_msg);
        return {};
      },
      { body: z.object({ presence: z.enum(['online', 'offline', 'unavailable']), status_msg: z.string().max(1024).optional() }) },
    ),
  ];
}
