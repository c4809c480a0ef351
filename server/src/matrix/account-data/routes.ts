import { forbidden, invalidParam } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { checkRoomId } from '../rooms/routes.ts';

const V3 = '/_matrix/client/v3';

function checkType(type: string): string {
  if (type.length === 0 || Buffer.byteLength(type) > 255) throw invalidParam('Invalid account data type.');
  return type;
}

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
  ];
}
