import { MatrixError, forbidden, invalidParam, notFound } from '../../errors.ts';
import * as aliasesRepo from '../../storage/aliases.ts';
import * as eventsRepo from '../../storage/events.ts';
import * as membershipsRepo from '../../storage/memberships.ts';
import * as roomsRepo from '../../storage/rooms.ts';
import * as usersRepo from '../../storage/users.ts';
import { isValidRoomAlias, isValidRoomId, isValidUserId } from '../auth/user-ids.ts';
import type { JsonObject } from '../events/pdu.ts';
import { memberContent } from './create-room.ts';
import type { RoomContext } from './context.ts';

/** Resolves `!room:srv` or a local `#alias:srv` to a room id that exists. */
export async function resolveRoom(ctx: RoomContext, idOrAlias: string): Promise<string> {
  if (idOrAlias.startsWith('#')) {
    if (!isValidRoomAlias(idOrAlias)) throw invalidParam('Invalid room alias.');
    const found = await aliasesRepo.findAlias(ctx.db, idOrAlias);
    if (!found) throw notFound('Room alias not found.');
    return found.room_id;
  }
  if (!isValidRoomId(idOrAlias)) throw invalidParam('Invalid room id.');
  if (!(await roomsRepo.findRoom(ctx.db, idOrAlias))) throw notFound('Unknown room.');
  return idOrAlias;
}

/**
 * The room of an invite, kick, ban or unban. A room that does not exist is one the sender is
 * not in: 403 as for any other room (the spec lists only 403), and no probing for room ids.
 */
async function actingRoom(ctx: RoomContext, roomId: string): Promise<string> {
  if (!(await roomsRepo.findRoom(ctx.db, roomId))) throw forbidden('You are not in this room.');
  return roomId;
}

async function setMembership(
  ctx: RoomContext,
  roomId: string,
  sender: string,
  target: string,
  membership: string,
  extra: { reason?: string | undefined; is_direct?: boolean } = {},
): Promise<string> {
  if (!isValidUserId(target)) throw invalidParam('Invalid user id.');
  const profile = membership === 'join' || membership === 'invite' ? await ctx.accounts.getUser(target) : undefined;
  if (membership === 'invite' && !profile) throw notFound(`Unknown user ${target}.`);
  const content: JsonObject = memberContent(membership, profile);
  if (extra.reason !== undefined) content.reason = extra.reason;
  if (extra.is_direct) content.is_direct = true;
  const [event] = await ctx.writer.append(roomId, [{ type: 'm.room.member', state_key: target, sender, content }]);
  return event!.event_id;
}

export async function join(ctx: RoomContext, userId: string, idOrAlias: string, reason?: string): Promise<string> {
  const roomId = await resolveRoom(ctx, idOrAlias);
  // Joining again writes a new join event, as Synapse does: it also refreshes the profile.
  await setMembership(ctx, roomId, userId, userId, 'join', { reason });
  return roomId;
}

/** Appends handed to the writer at once by joinMany: its group commit takes up to 128 per transaction. */
const JOIN_WINDOW = 1024;

/**
 * Many users join one room (directory groups that open rooms). Each user's join, after an
 * invite from `inviter` when the room is not public and the user is not invited yet, is its
 * own append through the one writer, so the auth rules judge every event and one refused join
 * fails alone; the writer's group commit writes many of them per transaction. Users already
 * joined are left alone. Returns the users whose join failed, with the error.
 */
export async function joinMany(ctx: RoomContext, roomId: string, userIds: string[], opts: { inviter?: string; reason?: string } = {}): Promise<Map<string, unknown>> {
  const failed = new Map<string, unknown>();
  if (userIds.length === 0) return failed;
  const current = new Map((await membershipsRepo.membersOfRoom(ctx.db, roomId, ['join', 'invite'])).map((m) => [m.user_id, m.membership]));
  const todo = [...new Set(userIds)].filter((u) => current.get(u) !== 'join');
  if (todo.length === 0) return failed;
  const joinRule = (await eventsRepo.findStateEvent(ctx.db, roomId, 'm.room.join_rules', ''))?.pdu.content.join_rule;
  const profiles = await usersRepo.findUsers(ctx.db, todo);
  for (let i = 0; i < todo.length; i += JOIN_WINDOW) {
    const window = todo.slice(i, i + JOIN_WINDOW);
    const results = await Promise.allSettled(
      window.map((userId) => {
        const profile = profiles.get(userId);
        if (!profile) return Promise.reject(notFound(`Unknown user ${userId}.`));
        const events: Array<{ type: string; state_key: string; sender: string; content: JsonObject }> = [];
        if (joinRule !== 'public' && current.get(userId) !== 'invite' && opts.inviter) {
          const invite = memberContent('invite', profile);
          if (opts.reason !== undefined) invite.reason = opts.reason;
          events.push({ type: 'm.room.member', state_key: userId, sender: opts.inviter, content: invite });
        }
        const join = memberContent('join', profile);
        if (opts.reason !== undefined) join.reason = opts.reason;
        events.push({ type: 'm.room.member', state_key: userId, sender: userId, content: join });
        return ctx.writer.append(roomId, events);
      }),
    );
    results.forEach((r, k) => {
      if (r.status === 'rejected') failed.set(window[k]!, r.reason);
    });
  }
  return failed;
}

export async function leave(ctx: RoomContext, userId: string, roomId: string, reason?: string): Promise<void> {
  const resolved = await resolveRoom(ctx, roomId);
  const current = await membershipsRepo.membershipOf(ctx.db, resolved, userId);
  if (!current || current.membership === 'leave') {
    // Leaving a room one is not in: the spec's answer is 200, nothing changes (Synapse: 403 for unknown).
    if (!current) throw forbidden('You are not in this room.');
    return;
  }
  if (current.membership === 'ban') throw forbidden('You are banned from this room.');
  await setMembership(ctx, resolved, userId, userId, 'leave', { reason });
}

export async function invite(ctx: RoomContext, sender: string, roomId: string, target: string, reason?: string): Promise<void> {
  const resolved = await actingRoom(ctx, roomId);
  const current = await membershipsRepo.membershipOf(ctx.db, resolved, target);
  // Inviting again is a no-op (like Synapse) for a joined sender; anyone else gets the auth rules' answer.
  if (current?.membership === 'invite' && (await membershipsRepo.membershipOf(ctx.db, resolved, sender))?.membership === 'join') return;
  if (current?.membership === 'join') throw forbidden(`${target} is already in the room.`);
  await setMembership(ctx, resolved, sender, target, 'invite', { reason });
}

export async function kick(ctx: RoomContext, sender: string, roomId: string, target: string, reason?: string): Promise<void> {
  const resolved = await actingRoom(ctx, roomId);
  const current = await membershipsRepo.membershipOf(ctx.db, resolved, target);
  if (!current || (current.membership !== 'join' && current.membership !== 'invite' && current.membership !== 'knock')) {
    throw forbidden(`${target} is not in the room.`);
  }
  await setMembership(ctx, resolved, sender, target, 'leave', { reason });
}

export async function ban(ctx: RoomContext, sender: string, roomId: string, target: string, reason?: string): Promise<void> {
  const resolved = await actingRoom(ctx, roomId);
  await setMembership(ctx, resolved, sender, target, 'ban', { reason });
}

export async function unban(ctx: RoomContext, sender: string, roomId: string, target: string, reason?: string): Promise<void> {
  const resolved = await actingRoom(ctx, roomId);
  const current = await membershipsRepo.membershipOf(ctx.db, resolved, target);
  if (current?.membership !== 'ban') throw forbidden(`${target} is not banned.`);
  await setMembership(ctx, resolved, sender, target, 'leave', { reason });
}

export async function forget(ctx: RoomContext, userId: string, roomId: string): Promise<void> {
  const current = await membershipsRepo.membershipOf(ctx.db, roomId, userId);
  if (!current) throw notFound('Unknown room.');
  if (current.membership === 'join' || current.membership === 'invite') {
    throw new MatrixError(400, 'M_UNKNOWN', 'Leave the room before forgetting it.');
  }
  await membershipsRepo.setForgotten(ctx.db, roomId, userId);
}

/** Sends a fresh join event with the new profile into every joined room (profile propagation). */
export async function refreshProfileInRooms(ctx: RoomContext, userId: string): Promise<void> {
  const rooms = await membershipsRepo.roomsOfUser(ctx.db, userId, ['join']);
  for (const r of rooms) {
    try {
      await setMembership(ctx, r.room_id, userId, userId, 'join');
    } catch {
      // A room whose rules no longer let the user change their member event keeps the old profile.
    }
  }
}

export async function joinedRooms(ctx: RoomContext, userId: string): Promise<string[]> {
  return roomsWith(ctx, userId, ['join']);
}

export async function roomsWith(ctx: RoomContext, userId: string, memberships: membershipsRepo.Membership[]): Promise<string[]> {
  return (await membershipsRepo.roomsOfUser(ctx.db, userId, memberships)).map((r) => r.room_id);
}
