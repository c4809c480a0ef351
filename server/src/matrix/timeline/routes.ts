import { z } from 'zod';
import { forbidden, invalidParam } from '../../errors.ts';
import { userRoute, type Requester, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import * as eventsRepo from '../../storage/events.ts';
import * as aliasesRepo from '../../storage/aliases.ts';
import { canRedact } from '../events/auth-rules.ts';
import type { JsonObject, StateMap } from '../events/pdu.ts';
import { checkRoomId } from '../rooms/routes.ts';
import { parseRoomEventFilter } from '../sync/filters.ts';
import type { ClientEvent } from './client-format.ts';

const V3 = '/_matrix/client/v3';

function checkType(type: string): string {
  if (Buffer.byteLength(type) > 255 || type.length === 0) throw invalidParam('Event type must be 1 to 255 bytes.');
  return type;
}

function checkStateKey(key: string): string {
  if (Buffer.byteLength(key) > 255) throw invalidParam('State key longer than 255 bytes.');
  return key;
}

function checkTxn(txnId: string): string {
  if (txnId.length === 0 || txnId.length > 255) throw invalidParam('Invalid transaction id.');
  return txnId;
}

function intParam(v: string | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (!/^\d{1,9}$/.test(v)) throw invalidParam(`${name} must be a non-negative integer.`);
  return Number(v);
}

export function timelineRoutes(s: Services): RouteDef[] {
  const send = async (requester: Requester, roomId: string, type: string, content: JsonObject, txnId: string) => {
    const { userId, deviceId } = requester;
    // Application services registered with rate_limited: false bridge whole chats at once.
    const unlimited = requester.appserviceId !== undefined && s.appservices.byId(requester.appserviceId)?.rateLimited === false;
    if (!unlimited) s.limits.send.take(userId);
    const [event] = await s.writer.append(roomId, [{ type, sender: userId, content }], { txn: { deviceId, txnId, path: `send/${roomId}/${type}` } });
    return { event_id: event!.event_id };
  };

  const putState = async (userId: string, roomId: string, type: string, stateKey: string, content: JsonObject) => {
    if (type === 'm.room.canonical_alias') await checkCanonicalAlias(s, roomId, content);
    const [event] = await s.writer.append(roomId, [{ type, state_key: stateKey, sender: userId, content }]);
    return { event_id: event!.event_id };
  };

  return [
    userRoute('PUT', `${V3}/rooms/:roomId/send/:eventType/:txnId`, ({ requester, params, body }) =>
      send(requester, checkRoomId(params.roomId!), checkType(params.eventType!), body as JsonObject, checkTxn(params.txnId!)),
    ),

    userRoute('PUT', `${V3}/rooms/:roomId/state/:eventType{/:stateKey}`, ({ requester, params, body }) =>
      putState(requester.userId, checkRoomId(params.roomId!), checkType(params.eventType!), checkStateKey(params.stateKey ?? ''), body as JsonObject),
    ),

    userRoute('GET', `${V3}/rooms/:roomId/state/:eventType{/:stateKey}`, async ({ requester, params, query }) => {
      const e = await s.reader.stateEvent(requester, checkRoomId(params.roomId!), params.eventType!, params.stateKey ?? '');
      return query.format === 'event' ? e : e.content;
    }),

    userRoute('GET', `${V3}/rooms/:roomId/state`, ({ requester, params }) => s.reader.state(requester, checkRoomId(params.roomId!))),

    userRoute(
      'PUT',
      `${V3}/rooms/:roomId/redact/:eventId/:txnId`,
      async ({ requester, params, body }) => {
        const roomId = checkRoomId(params.roomId!);
        const target = await eventsRepo.findEvent(s.db, params.eventId!);
        const content: JsonObject = body.reason !== undefined ? { reason: body.reason } : {};
        const [event] = await s.writer.append(
          roomId,
          [{ type: 'm.room.redaction', sender: requester.userId, content, redacts: params.eventId! }],
          {
            txn: { deviceId: requester.deviceId, txnId: checkTxn(params.txnId!), path: `redact/${roomId}/${params.eventId!}` },
            check: (_ev, stateBefore: StateMap) => {
              // The redact power level applies to other people's events (spec, client API).
              if (target && target.pdu.room_id === roomId && !canRedact(stateBefore, requester.userId, target.pdu.sender)) {
                throw forbidden('You cannot redact this event.');
              }
            },
          },
        );
        return { event_id: event!.event_id };
      },
      { body: z.object({ reason: z.string().max(2048).optional() }).loose() },
    ),

    userRoute('GET', `${V3}/rooms/:roomId/event/:eventId`, async ({ requester, params }) => {
      const roomId = checkRoomId(params.roomId!);
      const [event] = await s.relations.bundle(requester, roomId, [await s.reader.event(requester, roomId, params.eventId!)]);
      return event;
    }),

    userRoute('GET', `${V3}/rooms/:roomId/messages`, async ({ requester, params, query }) => {
      const dir = query.dir ?? 'b';
      if (dir !== 'b' && dir !== 'f') throw invalidParam('dir must be b or f.');
      const filter = parseRoomEventFilter(query.filter);
      const limit = intParam(query.limit, filter?.limit ?? 10, 'limit');
      const roomId = checkRoomId(params.roomId!);
      const page = await s.reader.messages(requester, roomId, { from: query.from, to: query.to, dir, limit, filter });
      return { ...page, chunk: await s.relations.bundle(requester, roomId, page.chunk) };
    }),

    userRoute('GET', `${V3}/rooms/:roomId/context/:eventId`, async ({ requester, params, query }) => {
      const filter = parseRoomEventFilter(query.filter);
      const roomId = checkRoomId(params.roomId!);
      const context = await s.reader.context(requester, roomId, params.eventId!, intParam(query.limit, 10, 'limit'), filter);
      // One bundling pass for the event and both sides of it.
      const before = context.events_before as ClientEvent[];
      const after = context.events_after as ClientEvent[];
      const all = await s.relations.bundle(requester, roomId, [context.event as ClientEvent, ...before, ...after]);
      return { ...context, event: all[0], events_before: all.slice(1, 1 + before.length), events_after: all.slice(1 + before.length) };
    }),
  ];
}

async function checkCanonicalAlias(s: Services, roomId: string, content: JsonObject): Promise<void> {
  const aliases = [content.alias, ...(Array.isArray(content.alt_aliases) ? content.alt_aliases : [])].filter((a) => a !== undefined && a !== null);
  for (const a of aliases) {
    if (typeof a !== 'string') throw invalidParam('Aliases must be strings.');
    const found = await aliasesRepo.findAlias(s.db, a);
    if (found?.room_id !== roomId) {
      throw Object.assign(invalidParam(`${a} does not point to this room.`), { errcode: 'M_BAD_ALIAS' });
    }
  }
}
