import { z } from 'zod';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { checkRoomId } from './routes.ts';
import { upgradeRoom } from './upgrade-room.ts';

export function roomUpgradeRoutes(s: Services): RouteDef[] {
  return [
    userRoute(
      'POST',
      '/_matrix/client/v3/rooms/:roomId/upgrade',
      ({ requester, params, body }) => upgradeRoom(s.rooms, requester.userId, checkRoomId(params.roomId!), body.new_version),
      // additional_creators (v1.16) only matters for room version 12, which is not served.
      { body: z.object({ new_version: z.string().max(32), additional_creators: z.array(z.string().max(255)).max(100).optional() }).loose() },
    ),
  ];
}
