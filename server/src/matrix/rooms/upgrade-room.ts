import { forbidden, unsupportedRoomVersion } from '../../errors.ts';
import * as aliasesRepo from '../../storage/aliases.ts';
import * as eventsRepo from '../../storage/events.ts';
import * as roomsRepo from '../../storage/rooms.ts';
import { membershipOf } from '../events/auth-rules.ts';
import { SUPPORTED_ROOM_VERSIONS, stateMapKey, type JsonObject, type RoomVersion, type StateMap } from '../events/pdu.ts';
import { powerLevel, requiredPowerForEvent, userPowerLevel } from '../events/power-levels.ts';
import type { RoomContext } from './context.ts';
import { createRoom } from './create-room.ts';

/**
 * State copied into the replacement room: the spec's recommended list. Membership is not
 * copied (members follow the tombstone themselves), nor is state outside the Matrix namespace,
 * whose meaning may depend on who sent it. The power levels go in as the room's own.
 */
const TRANSFERRED = [
  'm.room.server_acl',
  'm.room.encryption',
  'm.room.name',
  'm.room.avatar',
  'm.room.topic',
  'm.room.guest_access',
  'm.room.history_visibility',
  'm.room.join_rules',
  'm.room.canonical_alias',
];

/**
 * Upgrades a room (spec: "Room Upgrades", server behaviour): checks that the user may send the
 * tombstone, creates the replacement room (its create event names the predecessor and keeps
 * the room type) with the transferable state, moves the local aliases and the directory
 * listing, then tombstones the old room and restricts its power levels so that nobody but
 * moderators talks or invites there any more.
 */
export async function upgradeRoom(ctx: RoomContext, userId: string, roomId: string, newVersion: string): Promise<{ replacement_room: string }> {
  if (!SUPPORTED_ROOM_VERSIONS.includes(newVersion as RoomVersion)) throw unsupportedRoomVersion(newVersion);
  const room = await roomsRepo.findRoom(ctx.db, roomId);
  if (!room) throw forbidden('You are not in this room.');
  const latest = await eventsRepo.latestRoomEvent(ctx.db, roomId);
  const state: StateMap = new Map();
  for (const e of await eventsRepo.stateAt(ctx.db, roomId, Number.MAX_SAFE_INTEGER)) state.set(stateMapKey(e.pdu.type, e.pdu.state_key ?? ''), e.pdu);
  if (membershipOf(state, userId) !== 'join') throw forbidden('You are not in this room.');
  const level = userPowerLevel(state, userId, room.room_version as RoomVersion);
  if (level < requiredPowerForEvent(state, 'm.room.tombstone', true)) throw forbidden('You may not upgrade this room: it needs the power to send m.room.tombstone.');

  const get = (type: string) => state.get(stateMapKey(type, ''));
  const oldCreate = get('m.room.create');
  const creationContent: JsonObject = { predecessor: { room_id: roomId, ...(latest ? { event_id: latest.event_id } : {}) } };
  if (oldCreate && typeof oldCreate.content.type === 'string') creationContent.type = oldCreate.content.type;
  if (oldCreate && oldCreate.content['m.federate'] === false) creationContent['m.federate'] = false;

  // The copied state is sent by the upgrader: while the room is set up they need the power to
  // send all of it; the old room's levels are restored right after if that meant raising them.
  const oldPowerLevels = get('m.room.power_levels')?.content;
  const copied = TRANSFERRED.flatMap((type) => {
    const e = get(type);
    return e && Object.keys(e.content).length > 0 ? [{ type, state_key: '', content: e.content }] : [];
  });
  const needed = Math.max(...copied.map((s) => requiredPowerForEvent(state, s.type, true)), requiredPowerForEvent(state, 'm.room.power_levels', true));
  const raised = level < needed;
  let powerLevels: JsonObject | undefined;
  if (oldPowerLevels) {
    const users = { ...((oldPowerLevels.users as JsonObject | undefined) ?? {}) };
    if (raised) users[userId] = needed;
    powerLevels = { ...oldPowerLevels, users };
  }

  const { room_id: newRoomId } = await createRoom(ctx, userId, {
    room_version: newVersion,
    creation_content: creationContent,
    initial_state: copied,
    ...(powerLevels ? { power_level_content_override: powerLevels } : {}),
    // The old join rules come with the copied state; the preset only fills what is missing.
    preset: get('m.room.join_rules')?.content.join_rule === 'public' ? 'public_chat' : 'private_chat',
    visibility: room.published ? 'public' : 'private',
  });
  if (raised && oldPowerLevels) {
    await ctx.writer.append(newRoomId, [{ type: 'm.room.power_levels', state_key: '', sender: userId, content: oldPowerLevels }]);
  }

  // Local aliases now lead to the new room; the old one leaves the directory.
  await aliasesRepo.moveAliases(ctx.db, roomId, newRoomId);
  if (room.published) await roomsRepo.setPublished(ctx.db, roomId, false);

  await ctx.writer.append(roomId, [
    { type: 'm.room.tombstone', state_key: '', sender: userId, content: { body: 'This room has been replaced', replacement_room: newRoomId } },
  ]);
  // "If possible": with the power to change the power levels, silence the old room.
  if (level >= requiredPowerForEvent(state, 'm.room.power_levels', true)) {
    const restricted = Math.max(50, powerLevel(oldPowerLevels, 'users_default') + 1);
    const content: JsonObject = { ...(oldPowerLevels ?? { users: { [userId]: level } }), events_default: restricted, invite: restricted };
    await ctx.writer.append(roomId, [{ type: 'm.room.power_levels', state_key: '', sender: userId, content }]).catch(() => undefined);
  }
  return { replacement_room: newRoomId };
}
