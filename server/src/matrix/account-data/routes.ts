import { z } from 'zod';
import { forbidden, invalidParam } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { checkRoomId } from '../rooms/routes.ts';

const V3 = '/_matrix/client/v3';

function checkType(type: string): string {
  if (type.length === 0 || Buffer.byteLength(type) > 255) throw invalidParam('Invalid account data type.');
  return type;
}

/** The spec's limit on a tag's name. */
function checkTag(tag: string): string {
  if (tag.length === 0 || Buffer.byteLength(tag) > 255) throw invalidParam('A tag name is 1 to 255 bytes.');
  return tag;
}

/** A tag's content: its optional `order` (a number in [0,1], by the spec), and whatever else the client keeps there. */
const tagBody = z.looseObject({ order: z.number().min(0).max(1).optional() });

export function accountDataRoutes(s: Services): RouteDef[] {
  const own = (requesterId: string, userId: string) => {
    if (requesterId !== userId) throw forbidden('Cannot access account data of other users.');
  };
  return [
    userRoute('GET', `${V3}/user/:userId/account_data/:type`, ({ requester, params }) => {
      own(requester.userId, params.userId!);
      return s.accountData.get(requester.userId, '', params.type!);
    }),
    userRoute('PUT', `${V3}/user/:userId/account_data/:type`, async ({ requester, params, body }) => {
      own(requester.userId, params.userId!);
      await s.accountData.setByClient(requester.userId, '', checkType(params.type!), body);
      return {};
    }),
    userRoute('GET', `${V3}/user/:userId/rooms/:roomId/account_data/:type`, ({ requester, params }) => {
      own(requester.userId, params.userId!);
      return s.accountData.get(requester.userId, checkRoomId(params.roomId!), params.type!);
    }),
    userRoute('PUT', `${V3}/user/:userId/rooms/:roomId/account_data/:type`, async ({ requester, params, body }) => {
      own(requester.userId, params.userId!);
      await s.accountData.setByClient(requester.userId, checkRoomId(params.roomId!), checkType(params.type!), body);
      return {};
    }),
    // Room tags (favourites, low priority, the user's own): Element sets and removes them here.
    userRoute('GET', `${V3}/user/:userId/rooms/:roomId/tags`, async ({ requester, params }) => {
      own(requester.userId, params.userId!);
      return { tags: await s.accountData.roomTags(requester.userId, checkRoomId(params.roomId!)) };
    }),
    userRoute(
      'PUT',
      `${V3}/user/:userId/rooms/:roomId/tags/:tag`,
      async ({ requester, params, body }) => {
        own(requester.userId, params.userId!);
        await s.accountData.setRoomTag(requester.userId, checkRoomId(params.roomId!), checkTag(params.tag!), body);
        return {};
      },
      { body: tagBody },
    ),
    userRoute('DELETE', `${V3}/user/:userId/rooms/:roomId/tags/:tag`, async ({ requester, params }) => {
      own(requester.userId, params.userId!);
      await s.accountData.setRoomTag(requester.userId, checkRoomId(params.roomId!), checkTag(params.tag!), undefined);
      return {};
    }),
  ];
}
