import { z } from 'zod';
import { forbidden, invalidParam, notFound } from '../../errors.ts';
import { publicRoute, userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import * as usersRepo from '../../storage/users.ts';
import { isValidUserId } from '../auth/user-ids.ts';
import { refreshProfileInRooms } from '../rooms/membership.ts';

const V3 = '/_matrix/client/v3';
const FIELDS = ['displayname', 'avatar_url'] as const;
type Field = (typeof FIELDS)[number];

export function profileRoutes(s: Services): RouteDef[] {
  const load = async (userId: string) => {
    if (!isValidUserId(userId)) throw invalidParam('Invalid user id.');
    const user = await usersRepo.findUser(s.db, userId);
    if (!user || user.deactivated) throw notFound('Profile not found.');
    return user;
  };
  const routes: RouteDef[] = [
    publicRoute('GET', `${V3}/profile/:userId`, async ({ params }) => {
      const user = await load(params.userId!);
      const out: Record<string, string> = {};
      if (user.displayname) out.displayname = user.displayname;
      if (user.avatar_url) out.avatar_url = user.avatar_url;
      return out;
    }),
  ];
  for (const field of FIELDS) {
    routes.push(
      publicRoute('GET', `${V3}/profile/:userId/${field}`, async ({ params }) => {
        const user = await load(params.userId!);
        const value = user[field];
        if (!value) throw notFound(`No ${field} set.`);
        return { [field]: value };
      }),
      userRoute(
        'PUT',
        `${V3}/profile/:userId/${field}`,
        async ({ requester, params, body }) => {
          if (params.userId !== requester.userId) throw forbidden('Cannot change the profile of another user.');
          const value = body[field as Field];
          if (field === 'avatar_url' && value && !/^mxc:\/\/[^/]+\/[^/]+$/.test(value)) throw invalidParam('avatar_url must be an mxc:// URI.');
          await usersRepo.setProfileFields(s.db, requester.userId, { [field]: value ?? null });
          await refreshProfileInRooms(s.rooms, requester.userId);
          return {};
        },
        { body: z.object({ [field]: z.string().max(1024).nullable().optional() }).loose() as z.ZodType<Partial<Record<Field, string | null>>> },
      ),
    );
  }
  return routes;
}
