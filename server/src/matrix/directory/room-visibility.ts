import type { Knex } from 'knex';
import { forbidden, notFound } from '../../errors.ts';
import type { Requester } from '../../http/route.ts';
import { currentStateEvents } from '../../storage/events.ts';
import { findRoom, setPublished } from '../../storage/rooms.ts';
import { stateMapKey, type StateMap } from '../events/pdu.ts';
import { requiredPowerForEvent, userPowerLevel } from '../events/power-levels.ts';

// A room's visibility in the published room directory (`/directory/list/room/{roomId}`): the
// `published` flag of the room, which createRoom's `visibility` also sets and `/publicRooms`
// reads. Element reads it in a room's settings and sets it with its "publish" switch.

export type DirectoryVisibility = 'public' | 'private';

export async function roomVisibility(db: Knex, roomId: string): Promise<DirectoryVisibility> {
  const room = await findRoom(db, roomId);
  if (!room) throw notFound('Room not found.');
  return room.published ? 'public' : 'private';
}

/**
 * Publishes or unpublishes a room. Who may: server admins, and joined members allowed to set
 * the room's canonical alias (the spec leaves the check to servers; this is Synapse's).
 */
export async function setRoomVisibility(db: Knex, requester: Requester, roomId: string, visibility: DirectoryVisibility): Promise<void> {
  const room = await findRoom(db, roomId);
  if (!room) throw notFound('Room not found.');
  if (!requester.isAdmin) {
    const events = await currentStateEvents(db, roomId, [
      ['m.room.create', ''],
      ['m.room.power_levels', ''],
      ['m.room.member', requester.userId],
    ]);
    const state: StateMap = new Map(events.map((e) => [stateMapKey(e.pdu.type, e.pdu.state_key ?? ''), e.pdu]));
    const joined = state.get(stateMapKey('m.room.member', requester.userId))?.content.membership === 'join';
    if (!joined || userPowerLevel(state, requester.userId) < requiredPowerForEvent(state, 'm.room.canonical_alias', true)) {
      throw forbidden('Only room members who may set its address can publish the room.');
    }
  }
  await setPublished(db, roomId, visibility === 'public');
}
