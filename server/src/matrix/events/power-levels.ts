// Reading m.room.power_levels with the spec's defaults (event schema of
// m.room.power_levels; "Definitions" of the server-server auth rules).
//
// Every permission decision funnels through here, so a default that is off
// by one place silently changes who can do what. The defaults are the same
// whether the power_levels event is missing or merely lacks the key, with one
// exception: without the event, the room creator has 100.

import type { JsonObject, Pdu, RoomVersion, StateMap } from './pdu.ts';
import { stateMapKey } from './pdu.ts';

/** The numeric top-level levels of a power_levels content. */
export type PowerLevelKey = 'users_default' | 'events_default' | 'state_default' | 'ban' | 'kick' | 'redact' | 'invite';

export const POWER_LEVEL_KEYS: readonly PowerLevelKey[] = [
  'users_default',
  'events_default',
  'state_default',
  'ban',
  'kick',
  'redact',
  'invite',
];

export const POWER_LEVEL_DEFAULTS: Readonly<Record<PowerLevelKey, number>> = {
  users_default: 0,
  events_default: 0,
  // 50 even with no power_levels event: the creator (100) can still set up
  // the room, and nobody else can change its state before levels exist.
  state_default: 50,
  ban: 50,
  kick: 50,
  redact: 50,
  // The event schema says 0; the federation "Definitions" section lumps it
  // with kick/ban at 50. Synapse and the client schema use 0, as do we.
  invite: 0,
};

/** Default for notifications.room (the level to trigger an @room mention). */
export const ROOM_NOTIFICATION_DEFAULT = 50;

/** Power level of the room creator when the room has no power_levels event. */
export const CREATOR_DEFAULT_POWER = 100;

// Room versions 10+ reject non-integer levels in auth, so a non-integer can
// only come from a malformed or older event; treating it as absent keeps the
// defaults in force instead of guessing (e.g. parsing "50").
function intOrUndefined(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
}

function objectOrEmpty(v: unknown): Readonly<Record<string, unknown>> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export function roomPowerLevelsEvent(state: StateMap): Pdu | undefined {
  return state.get(stateMapKey('m.room.power_levels', ''));
}

export function roomCreateEvent(state: StateMap): Pdu | undefined {
  return state.get(stateMapKey('m.room.create', ''));
}

/**
 * The room creator as the auth rules see it: `content.creator` up to room
 * version 10, the create event's `sender` from v11 on (MSC2175 dropped the
 * redundant `creator`). Without `roomVersion`, the create event's own
 * `room_version` decides (absent means "1").
 */
export function roomCreator(create: Pdu, roomVersion?: string): string | undefined {
  const version = roomVersion ?? create.content['room_version'];
  const v = typeof version === 'string' ? version : '1';
  if (/^([1-9]|10)$/.test(v)) {
    const creator = create.content['creator'];
    return typeof creator === 'string' ? creator : undefined;
  }
  return create.sender;
}

/** A top-level level from a power_levels content (undefined content = no event). */
export function powerLevel(content: JsonObject | undefined, key: PowerLevelKey): number {
  return intOrUndefined(content?.[key]) ?? POWER_LEVEL_DEFAULTS[key];
}

/** `users[userId]`, falling back to `users_default`. */
export function userLevelFromContent(content: JsonObject, userId: string): number {
  return intOrUndefined(objectOrEmpty(content['users'])[userId]) ?? powerLevel(content, 'users_default');
}

/**
 * Power level of `userId` in the room whose state is given. `roomVersion`
 * only matters without a power_levels event (to identify the creator); it
 * defaults to the create event's `room_version`.
 */
export function userPowerLevel(state: StateMap, userId: string, roomVersion?: RoomVersion): number {
  const pl = roomPowerLevelsEvent(state);
  if (pl) return userLevelFromContent(pl.content, userId);
  const create = roomCreateEvent(state);
  return create && roomCreator(create, roomVersion) === userId ? CREATOR_DEFAULT_POWER : POWER_LEVEL_DEFAULTS.users_default;
}

/** A top-level level (ban, kick, redact, invite, *_default) in the room. */
export function roomPowerLevel(state: StateMap, key: PowerLevelKey): number {
  return powerLevel(roomPowerLevelsEvent(state)?.content, key);
}

/**
 * The "required power level" to send an event of `type`: `events[type]`,
 * else `state_default` for state events or `events_default` for the rest.
 * (Membership changes are governed by invite/kick/ban in the auth rules
 * instead; this is still what rule "required power level" uses for them.)
 */
export function requiredPowerForEvent(state: StateMap, type: string, isState: boolean): number {
  const content = roomPowerLevelsEvent(state)?.content;
  const explicit = intOrUndefined(objectOrEmpty(content?.['events'])[type]);
  if (explicit !== undefined) return explicit;
  return powerLevel(content, isState ? 'state_default' : 'events_default');
}

/**
 * Level needed to trigger a notification of kind `key` (e.g. 'room' for
 * @room). Only 'room' has a spec default; other keys are undefined unless set.
 */
export function notificationPowerLevel(state: StateMap, key: string): number | undefined {
  const content = roomPowerLevelsEvent(state)?.content;
  const explicit = intOrUndefined(objectOrEmpty(content?.['notifications'])[key]);
  if (explicit !== undefined) return explicit;
  return key === 'room' ? ROOM_NOTIFICATION_DEFAULT : undefined;
}
