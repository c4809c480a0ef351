import { z } from 'zod';
import { MatrixError, forbidden, invalidParam, notFound } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import * as aliasesRepo from '../../storage/aliases.ts';
import * as membershipsRepo from '../../storage/memberships.ts';
import { isValidRoomAlias, isValidRoomId } from '../auth/user-ids.ts';
import type { JsonObject } from '../events/pdu.ts';
import { createRoom } from './create-room.ts';
import * as membership from './membership.ts';

const V3 = '/_matrix/client/v3';
const jsonObject = z.record(z.string(), z.unknown()) as unknown as z.ZodType<JsonObject>;
const userIdBody = z.object({ user_id: z.string().max(255), reason: z.string().max(2048).optional() }).loose();
const reasonBody = z.object({ reason: z.string().max(2048).optional() }).loose();

const createRoomBody = z
  .object({
    visibility: z.enum(['public', 'private']).optional(),
    room_alias_name: z.string().max(255).optional(),
    name: z.string().max(1024).optional(),
    topic: z.string().max(4096).optional(),
    invite: z.array(z.string().max(255)).max(1000).optional(),
    invite_3pid: z.array(z.unknown()).optional(),
    room_version: z.string().max(32).optional(),
    creation_content: jsonObject.optional(),
    initial_state: z
      .array(z.object({ type: z.string().min(1).max(255), state_key: z.string().max(255).optional(), content: jsonObject }))
      .max(100)
      .optional(),
    preset: z.enum(['private_chat', 'public_chat', 'trusted_private_chat']).optional(),
    is_direct: z.boolean().optional(),
    power_level_content_override: jsonObject.optional(),
  })
  .loose();

export function checkRoomId(roomId: string): string {
  if (!isValidRoomId(roomId)) throw invalidParam('Invalid room id.');
  return roomId;
}

export function roomRoutes(s: Services): RouteDef[] {
  const ctx = s.rooms;
  return [
    userRoute('POST', `${V3}/createRoom`, ({ requester, body }) => createRoom(ctx, requester.userId, body), { body: createRoomBody }),

    userRoute(
      'POST',
      `${V3}/join/:roomIdOrAlias`,
      async ({ requester, params, body }) => ({ room_id: await membership.join(ctx, requester.userId, params.roomIdOrAlias!, body.reason) }),
      { body: reasonBody },
    ),
    userRoute(
      'POST',
      `${V3}/rooms/:roomId/join`,
      async ({ requester, params, body }) => ({ room_id: await membership.join(ctx, requester.userId, checkRoomId(params.roomId!), body.reason) }),
      { body: reasonBody },
    ),
    userRoute(
      'POST',
      `${V3}/rooms/:roomId/leave`,
      async ({ requester, params, body }) => {
        await membership.leave(ctx, requester.userId, checkRoomId(params.roomId!), body.reason);
        return {};
      },
      { body: reasonBody },
    ),
    userRoute('POST', `${V3}/rooms/:roomId/forget`, async ({ requester, params }) => {
      await membership.forget(ctx, requester.userId, checkRoomId(params.roomId!));
      return {};
    }),
    userRoute(
      'POST',
      `${V3}/rooms/:roomId/invite`,
      async ({ requester, params, body }) => {
        await membership.invite(ctx, requester.userId, checkRoomId(params.roomId!), body.user_id, body.reason);
        return {};
      },
      { body: userIdBody },
    ),
    userRoute(
      'POST',
      `${V3}/rooms/:roomId/kick`,
      async ({ requester, params, body }) => {
        await membership.kick(ctx, requester.userId, checkRoomId(params.roomId!), body.user_id, body.reason);
        return {};
      },
      { body: userIdBody },
    ),
    userRoute(
      'POST',
      `${V3}/rooms/:roomId/ban`,
      async ({ requester, params, body }) => {
        await membership.ban(ctx, requester.userId, checkRoomId(params.roomId!), body.user_id, body.reason);
        return {};
      },
      { body: userIdBody },
    ),
    userRoute(
      'POST',
      `${V3}/rooms/:roomId/unban`,
      async ({ requester, params, body }) => {
        await membership.unban(ctx, requester.userId, checkRoomId(params.roomId!), body.user_id, body.reason);
        return {};
      },
      { body: userIdBody },
    ),
    userRoute('GET', `${V3}/joined_rooms`, async ({ requester }) => ({ joined_rooms: await membership.joinedRooms(ctx, requester.userId) })),

    userRoute('GET', `${V3}/rooms/:roomId/members`, async ({ requester, params, query }) => ({
      chunk: await s.reader.members(requester, checkRoomId(params.roomId!), { at: query.at, membership: query.membership, not_membership: query.not_membership }),
    })),
    userRoute('GET', `${V3}/rooms/:roomId/joined_members`, async ({ requester, params }) => {
      const roomId = checkRoomId(params.roomId!);
      const mine = await membershipsRepo.membershipOf(s.db, roomId, requester.userId);
      if (mine?.membership !== 'join') throw forbidden('You are not in this room.');
      const members = await s.reader.members(requester, roomId, { membership: 'join' });
      const joined: Record<string, { display_name?: string; avatar_url?: string }> = {};
      for (const m of members) {
        const entry: { display_name?: string; avatar_url?: string } = {};
        if (typeof m.content.displayname === 'string') entry.display_name = m.content.displayname;
        if (typeof m.content.avatar_url === 'string') entry.avatar_url = m.content.avatar_url;
        joined[m.state_key!] = entry;
      }
      return { joined };
    }),

    // Aliases
    userRoute('GET', `${V3}/directory/room/:roomAlias`, async ({ params }) => {
      const alias = params.roomAlias!;
      if (!isValidRoomAlias(alias)) throw invalidParam('Invalid room alias.');
      let found = await aliasesRepo.findAlias(s.db, alias);
      // An alias in an application service's namespace may be created by the service on demand.
      if (!found && (await s.appservices.queryAlias(alias))) found = await aliasesRepo.findAlias(s.db, alias);
      if (!found) throw notFound('Room alias not found.');
      return { room_id: found.room_id, servers: [s.config.serverName] };
    }),
    userRoute(
      'PUT',
      `${V3}/directory/room/:roomAlias`,
      async ({ requester, params, body }) => {
        const alias = params.roomAlias!;
        if (!isValidRoomAlias(alias)) throw invalidParam('Invalid room alias.');
        if (!alias.endsWith(`:${s.config.serverName}`)) throw invalidParam('Alias must be on this server.');
        const owner = s.appservices.exclusiveOwnerOfAlias(alias);
        if (owner && requester.appserviceId !== owner.id) throw new MatrixError(400, 'M_EXCLUSIVE', 'This alias is reserved by an application service.');
        const roomId = checkRoomId(body.room_id);
        const mine = await membershipsRepo.membershipOf(s.db, roomId, requester.userId);
        if (mine?.membership !== 'join') throw forbidden('You are not in this room.');
        if (!(await aliasesRepo.insertAlias(s.db, alias, roomId, requester.userId))) {
          throw new MatrixError(409, 'M_UNKNOWN', 'Room alias already exists.');
        }
        return {};
      },
      { body: z.object({ room_id: z.string().max(255) }).loose() },
    ),
    userRoute('DELETE', `${V3}/directory/room/:roomAlias`, async ({ requester, params }) => {
      const alias = params.roomAlias!;
      const found = await aliasesRepo.findAlias(s.db, alias);
      if (!found) throw notFound('Room alias not found.');
      if (found.creator !== requester.userId && !requester.isAdmin) throw forbidden('Only the creator of an alias or an admin may remove it.');
      await aliasesRepo.deleteAlias(s.db, alias);
      return {};
    }),
    userRoute('GET', `${V3}/rooms/:roomId/aliases`, async ({ requester, params }) => {
      const roomId = checkRoomId(params.roomId!);
      await s.reader.access(requester.userId, roomId);
      return { aliases: await aliasesRepo.aliasesOfRoom(s.db, roomId) };
    }),
  ];
}
