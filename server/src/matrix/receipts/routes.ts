import { z } from 'zod';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { checkRoomId } from '../rooms/routes.ts';

const V3 = '/_matrix/client/v3';

export function receiptRoutes(s: Services): RouteDef[] {
  return [
    userRoute(
      'POST',
      `${V3}/rooms/:roomId/receipt/:receiptType/:eventId`,
      async ({ requester, params, body }) => {
        await s.receipts.setReceipt(requester.userId, checkRoomId(params.roomId!), params.receiptType!, params.eventId!, body.thread_id);
        return {};
      },
      { body: z.object({ thread_id: z.string().max(255).optional() }).loose() },
    ),
    userRoute(
      'POST',
      `${V3}/rooms/:roomId/read_markers`,
      async ({ requester, params, body }) => {
        const roomId = checkRoomId(params.roomId!);
        if (body['m.fully_read']) await s.receipts.setFullyRead(requester.userId, roomId, body['m.fully_read']);
        if (body['m.read']) await s.receipts.setReceipt(requester.userId, roomId, 'm.read', body['m.read'], undefined);
        if (body['m.read.private']) await s.receipts.setReceipt(requester.userId, roomId, 'm.read.private', body['m.read.private'], undefined);
        return {};
      },
      {
        body: z
          .object({ 'm.fully_read': z.string().max(255).optional(), 'm.read': z.string().max(255).optional(), 'm.read.private': z.string().max(255).optional() })
          .loose(),
      },
    ),
  ];
}
