import { z } from 'zod';
import { forbidden, invalidParam, notFound } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import * as reportsRepo from '../../storage/content-reports.ts';
import { findEvent } from '../../storage/events.ts';
import { findRoom } from '../../storage/rooms.ts';
import { checkRoomId } from '../rooms/routes.ts';
import { VisibilityRules } from '../timeline/visibility.ts';

const ROOM = '/_matrix/client/v3/rooms/:roomId';
const ADMIN = '/_tocsin/v1/admin/reports';

/**
 * Reports of rooms and events to the server's administrators. Each is stored (table
 * content_reports, read with GET /_tocsin/v1/admin/reports) and logged, marked
 * `audit: content.report`, for the operator's log collection; the answer is the same whether
 * or not anyone reads it, as the spec asks.
 */
export function reportRoutes(s: Services): RouteDef[] {
  return [
    userRoute(
      'POST',
      `${ROOM}/report`,
      async ({ requester, params, body }) => {
        const roomId = checkRoomId(params.roomId!);
        if (!(await findRoom(s.db, roomId))) throw notFound('Unknown room.');
        const reportId = await reportsRepo.insertReport(s.db, {
          reporter: requester.userId,
          room_id: roomId,
          event_id: null,
          event_sender: null,
          reason: body.reason,
          score: null,
          received_ts: Date.now(),
        });
        s.log.warn({ audit: 'content.report', reportId, by: requester.userId, roomId, reason: body.reason }, 'room reported');
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
        const reportId = await reportsRepo.insertReport(s.db, {
          reporter: requester.userId,
          room_id: roomId,
          event_id: event.pdu.event_id,
          event_sender: event.pdu.sender,
          reason: body.reason ?? null,
          score: body.score ?? null,
          received_ts: Date.now(),
        });
        s.log.warn(
          { audit: 'content.report', reportId, by: requester.userId, roomId, eventId: params.eventId, sender: event.pdu.sender, reason: body.reason, score: body.score },
          'event reported',
        );
        return {};
      },
      { body: z.object({ reason: z.string().max(4096).optional(), score: z.number().int().min(-100).max(0).optional() }) },
    ),
    // The administrators' reading of the reports, newest first; `from` is the next_token of the
    // previous page.
    userRoute('GET', ADMIN, async ({ requester, query }) => {
      if (!requester.isAdmin) throw forbidden('Server administrators only.');
      const limit = query.limit === undefined ? 100 : Number(query.limit);
      if (!/^\d{1,4}$/.test(query.limit ?? '100') || limit < 1 || limit > 1000) throw invalidParam('limit must be an integer from 1 to 1000.');
      if (query.from !== undefined && !/^\d{1,15}$/.test(query.from)) throw invalidParam('Invalid from token.');
      const reports = await reportsRepo.listReports(s.db, { before: query.from === undefined ? undefined : Number(query.from), limit });
      const last = reports.at(-1);
      return { reports, ...(reports.length === limit && last ? { next_token: String(last.report_id) } : {}) };
    }),
  ];
}
