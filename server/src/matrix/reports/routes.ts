import { z } from 'zod';
import { notFound } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { findEvent } from '../../storage/events.ts';
import { findRoom } from '../../storage/rooms.ts';
import { checkRoomId } from '../rooms/routes.ts';
import { VisibilityRules } from '../timeline/visibility.ts';

const ROOM = '/_matrix/client/v3/rooms/:roomId';

/**
 * Reports of rooms and events to the server's administrators. They go to the log, marked
 * `audit: content.report`, where the operator's log collection picks them up; the answer is
 * the same whether or not anyone reads it, as the spec asks.
 */
export function reportRoutes(s: Services): RouteDef[] {
  return [
    userRoute(
      'POST',
      `${ROOM}/report`,
      async ({ requester, params, body }) => {
        const roomId = checkRoomId(params.roomId!);
        if (!(await findRoom(s.db, roomId))) throw notFound('Unknown room.');
        s.log.warn({ audit: 'content.report', by: requester.userId, roomId, reason: body.reason }, 'room reported');
        return {};
      },
      { body: z.object({ reason: z.string().max(4096) }) },
    ),
    userRoute(
      'POST',
      `${ROOM}/report/:eventId`,
      async ({ requester, params, body }) => {
        const roomId = checkRoomId(params.roomId!);
        const event = await findEvent(s.db, params.eventId!);
        // An event the reporter cannot see is "not found", so that reports reveal nothing.
        if (!event || event.pdu.room_id !== roomId) throw notFound('Unknown event.');
        const rules = await VisibilityRules.load(s.db, roomId, requester.userId);
        if (!rules.canSee(event)) throw notFound('Unknown event.');
        s.log.warn({ audit: 'content.report', by: requester.userId, roomId, eventId: params.eventId, sender: event.pdu.sender, reason: body.reason, score: body.score }, 'event reported');
        return {};
      },
      { body: z.object({ reason: z.string().max(4096).optional(), score: z.number().int().min(-100).max(0).optional() }) },
    ),
  ];
}
