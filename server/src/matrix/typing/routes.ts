import { z } from 'zod';
import { forbidden } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import * as membershipsRepo from '../../storage/memberships.ts';
import { checkRoomId } from '../rooms/routes.ts';

export function typingRoutes(s: Services): RouteDef[] {
  return [
    userRoute(
      'PUT',
      '/_matrix/client/v3/rooms/:roomId/typing/:userId',
      async ({ requester, params, body }) => {
        if (params.userId !== requester.userId) throw forbidden('Cannot set typing for another user.');
        const roomId = checkRoomId(params.roomId!);
        const m = await membershipsRepo.membershipOf(s.db, roomId, requester.userId);
        if (m?.membership !== 'join') throw forbidden('You are not in this room.');
        s.typing.setTyping(roomId, requester.userId, body.typing, body.timeout ?? 30_000);
        return {};
      },
      { body: z.object({ typing: z.boolean(), timeout: z.number().int().min(0).optional() }).loose() },
    ),
  ];
}
