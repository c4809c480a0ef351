// Authorization rules of room versions 10 and 11 (rooms/v10.md, v11.md,
// "Authorisation rules"), for events this server creates itself.
//
// Tocsin does not federate, so the rules that only guard against other
// servers are reduced to what still has meaning locally:
//  - rule 2 (auth_events must be exactly the selected ones, not rejected,
//    same room): the caller builds auth_events from authEventKeys() and the
//    state it passes here, so we only check that a create event exists and
//    that the state we rely on belongs to this room;
//  - signature checks: every event is signed by us, so "validly signed by the
//    homeserver of X" is equivalent to "X is a user of the sender's server".
// Rule numbers below refer to the spec's list.

import { decodeBase64, decodeUrlSafeBase64 } from './base64.ts';
import { domainOf, isValidUserId } from './identifiers.ts';
import type { JsonObject, JsonValue, Pdu, RoomVersion, StateMap } from './pdu.ts';
import { SUPPORTED_ROOM_VERSIONS, stateMapKey } from './pdu.ts';
import {
  POWER_LEVEL_KEYS,
  roomCreateEvent,
  roomPowerLevelsEvent,
  roomCreator,
  roomPowerLevel,
  requiredPowerForEvent,
  userPowerLevel,
} from './power-levels.ts';
import { verifyJsonSignature } from './signing.ts';

export type AuthResult = { allowed: true } | { allowed: false; reason: string };

const ALLOW: AuthResult = { allowed: true };
const deny = (reason: string): AuthResult => ({ allowed: false, reason });

// ---------------------------------------------------------------- helpers

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** A user's membership in the given state, or undefined if they have none. */
export function membershipOf(state: StateMap, userId: string): string | undefined {
  const m = state.get(stateMapKey('m.room.member', userId))?.content['membership'];
  return typeof m === 'string' ? m : undefined;
}

/**
 * The room's join rule. With no (or a redacted) join_rules event we use
 * 'invite', as Synapse does: the spec leaves it open, and 'invite' is the
 * only choice that neither locks invited users out nor opens the room.
 */
export function joinRuleOf(state: StateMap): string {
  const rule = state.get(stateMapKey('m.room.join_rules', ''))?.content['join_rule'];
  return typeof rule === 'string' ? rule : 'invite';
}

// ---------------------------------------------------------------- selection

/**
 * The (type, state_key) pairs whose current state events are the auth events
 * of `pdu` (server-server spec, "Auth events selection"). Pairs without an
 * event in the room state are simply not used by the caller.
 *
 * One deliberate addition: join_rules is also selected for `knock`, because
 * the knock rule reads the join rule (the spec's list omits it; Synapse
 * includes it for the same reason).
 */
export function authEventKeys(pdu: Pick<Pdu, 'type' | 'sender' | 'state_key' | 'content'>): Array<[string, string]> {
  if (pdu.type === 'm.room.create') return [];
  const keys: Array<[string, string]> = [
    ['m.room.create', ''],
    ['m.room.power_levels', ''],
    ['m.room.member', pdu.sender],
  ];
  if (pdu.type === 'm.room.member' && typeof pdu.state_key === 'string') {
    keys.push(['m.room.member', pdu.state_key]);
    const membership = pdu.content['membership'];
    if (membership === 'join' || membership === 'invite' || membership === 'knock') {
      keys.push(['m.room.join_rules', '']);
    }
    const tpi = pdu.content['third_party_invite'];
    if (membership === 'invite' && isObject(tpi) && isObject(tpi['signed'])) {
      const token = tpi['signed']['token'];
      if (typeof token === 'string') keys.push(['m.room.third_party_invite', token]);
    }
    // Rooms v8+ support restricted joins, so v10/v11 always select this.
    const via = pdu.content['join_authorised_via_users_server'];
    if (typeof via === 'string') keys.push(['m.room.member', via]);
  }
  const seen = new Set<string>();
  return keys.filter(([t, k]) => {
    const id = stateMapKey(t, k);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

// ---------------------------------------------------------------- entry point

/**
 * Whether `pdu` is allowed given the room state before it. `stateBefore`
 * needs to hold at least the entries listed by authEventKeys(pdu).
 */
export function checkEventAuth(pdu: Pdu, stateBefore: StateMap, roomVersion: RoomVersion): AuthResult {
  // Rule 1
  if (pdu.type === 'm.room.create') return checkCreate(pdu, roomVersion);

  // Rule 2 (what remains of it without federation; see the file comment)
  const create = roomCreateEvent(stateBefore);
  if (!create) return deny('no m.room.create event in the room state');
  for (const [type, stateKey] of authEventKeys(pdu)) {
    const ev = stateBefore.get(stateMapKey(type, stateKey));
    if (ev && ev.room_id !== pdu.room_id) return deny(`auth event ${type}/${stateKey} belongs to another room`);
  }

  // Rule 3
  if (create.content['m.federate'] === false && domainOf(pdu.sender) !== domainOf(create.sender)) {
    return deny('room is not federated and the sender is from another server');
  }

  // Rule 4
  if (pdu.type === 'm.room.member') return checkMember(pdu, stateBefore, create, roomVersion);

  // Rule 5
  if (membershipOf(stateBefore, pdu.sender) !== 'join') return deny('sender is not joined to the room');

  const senderLevel = userPowerLevel(stateBefore, pdu.sender, roomVersion);

  // Rule 6
  if (pdu.type === 'm.room.third_party_invite') {
    return senderLevel >= roomPowerLevel(stateBefore, 'invite')
      ? ALLOW
      : deny('sender lacks the invite level needed to send a third-party invite');
  }

  // Rule 7
  const isState = typeof pdu.state_key === 'string';
  const required = requiredPowerForEvent(stateBefore, pdu.type, isState);
  if (required > senderLevel) {
    return deny(`sending ${pdu.type} requires power level ${required}, sender has ${senderLevel}`);
  }

  // Rule 8: a state key naming a user belongs to that user alone.
  if (isState && pdu.state_key!.startsWith('@') && pdu.state_key !== pdu.sender) {
    return deny('state_key starting with "@" must be the sender');
  }

  // Rule 9
  if (pdu.type === 'm.room.power_levels') return checkPowerLevels(pdu, stateBefore, senderLevel);

  // Rule 10. m.room.redaction lands here too: the redact level is not an
  // auth rule in v10/v11 (see canRedact).
  return ALLOW;
}

// ---------------------------------------------------------------- rule 1

function checkCreate(pdu: Pdu, roomVersion: RoomVersion): AuthResult {
  if (pdu.prev_events.length > 0) return deny('m.room.create must not have prev_events');
  const roomDomain = domainOf(pdu.room_id);
  if (roomDomain === undefined || roomDomain !== domainOf(pdu.sender)) {
    return deny('room_id domain does not match sender domain');
  }
  const version = pdu.content['room_version'];
  if (version !== undefined && !(SUPPORTED_ROOM_VERSIONS as readonly unknown[]).includes(version)) {
    return deny(`unrecognised room version ${JSON.stringify(version)}`);
  }
  // v11 dropped `creator` (MSC2175): the sender is the creator.
  if (roomVersion === '10' && !Object.hasOwn(pdu.content, 'creator')) {
    return deny('m.room.create content has no creator');
  }
  return ALLOW;
}

// ---------------------------------------------------------------- rule 4

function checkMember(pdu: Pdu, state: StateMap, create: Pdu, roomVersion: RoomVersion): AuthResult {
  // 4.1
  const target = pdu.state_key;
  if (typeof target !== 'string') return deny('m.room.member has no state_key');
  if (!Object.hasOwn(pdu.content, 'membership')) return deny('m.room.member content has no membership');
  const membership = pdu.content['membership'];

  // 4.2: the authorising user must be on the signing (i.e. our, the sender's) server.
  if (Object.hasOwn(pdu.content, 'join_authorised_via_users_server')) {
    const via = pdu.content['join_authorised_via_users_server'];
    if (typeof via !== 'string' || domainOf(via) !== domainOf(pdu.sender)) {
      return deny('join_authorised_via_users_server is not a user of the signing server');
    }
  }

  const senderMembership = membershipOf(state, pdu.sender);
  const targetMembership = membershipOf(state, target);
  const senderLevel = userPowerLevel(state, pdu.sender, roomVersion);
  const targetLevel = userPowerLevel(state, target, roomVersion);
  const joinRule = joinRuleOf(state);

  switch (membership) {
    case 'join': {
      // 4.3.1: the creator's own first join, before any other state exists.
      if (
        pdu.prev_events.length === 1 &&
        pdu.prev_events[0] === create.event_id &&
        target === roomCreator(create, roomVersion)
      ) {
        return ALLOW;
      }
      if (pdu.sender !== target) return deny('cannot make another user join'); // 4.3.2
      if (senderMembership === 'ban') return deny('user is banned from the room'); // 4.3.3
      if (joinRule === 'invite' || joinRule === 'knock') {
        // 4.3.4
        return senderMembership === 'invite' || senderMembership === 'join'
          ? ALLOW
          : deny(`join rule is ${joinRule} and the user is not invited`);
      }
      if (joinRule === 'restricted' || joinRule === 'knock_restricted') {
        // 4.3.5
        if (senderMembership === 'join' || senderMembership === 'invite') return ALLOW;
        const via = pdu.content['join_authorised_via_users_server'];
        if (
          typeof via !== 'string' ||
          membershipOf(state, via) !== 'join' ||
          userPowerLevel(state, via, roomVersion) < roomPowerLevel(state, 'invite')
        ) {
          return deny('restricted join not authorised by a joined user able to invite');
        }
        return ALLOW;
      }
      if (joinRule === 'public') return ALLOW; // 4.3.6
      return deny(`join rule ${joinRule} does not allow joining`); // 4.3.7
    }

    case 'invite': {
      // 4.4.1
      if (Object.hasOwn(pdu.content, 'third_party_invite')) {
        return checkThirdPartyInvite(pdu, state, target, targetMembership);
      }
      if (senderMembership !== 'join') return deny('sender is not joined to the room'); // 4.4.2
      if (targetMembership === 'join' || targetMembership === 'ban') {
        return deny(`target user is already ${targetMembership === 'join' ? 'joined' : 'banned'}`); // 4.4.3
      }
      const inviteLevel = roomPowerLevel(state, 'invite');
      return senderLevel >= inviteLevel // 4.4.4
        ? ALLOW
        : deny(`inviting requires power level ${inviteLevel}, sender has ${senderLevel}`);
    }

    case 'leave': {
      if (pdu.sender === target) {
        // 4.5.1: leaving, rejecting an invite, or withdrawing a knock.
        return senderMembership === 'invite' || senderMembership === 'join' || senderMembership === 'knock'
          ? ALLOW
          : deny(`cannot leave with current membership ${senderMembership ?? 'none'}`);
      }
      if (senderMembership !== 'join') return deny('sender is not joined to the room'); // 4.5.2
      const banLevel = roomPowerLevel(state, 'ban');
      if (targetMembership === 'ban' && senderLevel < banLevel) {
        return deny(`unbanning requires power level ${banLevel}, sender has ${senderLevel}`); // 4.5.3
      }
      const kickLevel = roomPowerLevel(state, 'kick');
      if (senderLevel >= kickLevel && targetLevel < senderLevel) return ALLOW; // 4.5.4
      return deny(
        senderLevel < kickLevel
          ? `kicking requires power level ${kickLevel}, sender has ${senderLevel}`
          : 'cannot kick a user with a power level equal to or higher than your own',
      );
    }

    case 'ban': {
      if (senderMembership !== 'join') return deny('sender is not joined to the room'); // 4.6.1
      const banLevel = roomPowerLevel(state, 'ban');
      if (senderLevel >= banLevel && targetLevel < senderLevel) return ALLOW; // 4.6.2
      return deny(
        senderLevel < banLevel
          ? `banning requires power level ${banLevel}, sender has ${senderLevel}`
          : 'cannot ban a user with a power level equal to or higher than your own',
      );
    }

    case 'knock': {
      if (joinRule !== 'knock' && joinRule !== 'knock_restricted') {
        return deny(`join rule ${joinRule} does not allow knocking`); // 4.7.1
      }
      if (pdu.sender !== target) return deny('cannot knock on behalf of another user'); // 4.7.2
      if (senderMembership !== 'ban' && senderMembership !== 'invite' && senderMembership !== 'join') {
        return ALLOW; // 4.7.3
      }
      return deny(`cannot knock with current membership ${senderMembership}`);
    }

    default:
      return deny(`unknown membership ${JSON.stringify(membership)}`); // 4.8
  }
}

// 4.4.1: an invite created from a third-party (e.g. email) invite; the
// identity server's signature over {mxid, token} proves the invitee
// answered the invite the room sent.
function checkThirdPartyInvite(
  pdu: Pdu,
  state: StateMap,
  target: string,
  targetMembership: string | undefined,
): AuthResult {
  if (targetMembership === 'ban') return deny('target user is banned'); // 4.4.1.1
  const tpi = pdu.content['third_party_invite'];
  const signed = isObject(tpi) ? tpi['signed'] : undefined;
  if (!isObject(signed)) return deny('third_party_invite has no signed block'); // 4.4.1.2
  const { mxid, token } = signed;
  if (typeof mxid !== 'string' || typeof token !== 'string') {
    return deny('third_party_invite.signed lacks mxid or token'); // 4.4.1.3
  }
  if (mxid !== target) return deny('third_party_invite mxid does not match state_key'); // 4.4.1.4
  const invite = state.get(stateMapKey('m.room.third_party_invite', token));
  if (!invite) return deny('no m.room.third_party_invite for this token'); // 4.4.1.5
  if (invite.sender !== pdu.sender) return deny('sender did not send the third-party invite'); // 4.4.1.6

  // 4.4.1.7
  const publicKeys: string[] = [];
  if (typeof invite.content['public_key'] === 'string') publicKeys.push(invite.content['public_key']);
  const list = invite.content['public_keys'];
  if (Array.isArray(list)) {
    for (const entry of list) {
      if (isObject(entry) && typeof entry['public_key'] === 'string') publicKeys.push(entry['public_key']);
    }
  }
  const signatures = signed['signatures'];
  if (isObject(signatures)) {
    for (const [server, keys] of Object.entries(signatures)) {
      if (!isObject(keys)) continue;
      for (const keyId of Object.keys(keys)) {
        for (const pk of publicKeys) {
          const raw = decodeIdentityKey(pk);
          if (raw && verifyJsonSignature(signed, server, keyId, raw)) return ALLOW;
        }
      }
    }
  }
  return deny('third_party_invite signature does not match any of the invite\'s public keys'); // 4.4.1.8
}

// Identity servers publish keys in unpadded base64, some in the URL-safe
// alphabet; either is the same key.
function decodeIdentityKey(key: string): Buffer | undefined {
  for (const decode of [decodeBase64, decodeUrlSafeBase64]) {
    try {
      return decode(key);
    } catch {
      // try the other alphabet
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- rule 9

function checkPowerLevels(pdu: Pdu, state: StateMap, senderLevel: number): AuthResult {
  const content = pdu.content;

  // 9.1-9.3: v10 made levels strictly integers (no "50" strings).
  for (const key of POWER_LEVEL_KEYS) {
    if (Object.hasOwn(content, key) && !isInt(content[key])) return deny(`power level ${key} is not an integer`);
  }
  for (const key of ['events', 'notifications'] as const) {
    if (Object.hasOwn(content, key)) {
      const map = content[key];
      if (!isObject(map) || !Object.values(map).every(isInt)) {
        return deny(`power level ${key} must be an object of integers`);
      }
    }
  }
  // An absent `users` is accepted (the schema makes it optional; Synapse agrees).
  if (Object.hasOwn(content, 'users')) {
    const users = content['users'];
    if (!isObject(users)) return deny('power level users must be an object');
    for (const [userId, level] of Object.entries(users)) {
      if (!isValidUserId(userId)) return deny(`power level users key ${JSON.stringify(userId)} is not a user ID`);
      if (!isInt(level)) return deny(`power level for ${userId} is not an integer`);
    }
  }

  // 9.4
  const previous = roomPowerLevelsEvent(state);
  if (!previous) return ALLOW;
  const old = previous.content;

  // 9.5: nobody may touch a threshold above their own level, nor raise one above it.
  for (const key of POWER_LEVEL_KEYS) {
    const before = intField(old, key);
    const after = intField(content, key);
    if (before === after) continue;
    if (before !== undefined && before > senderLevel) {
      return deny(`cannot change ${key} from ${before}: above sender's level ${senderLevel}`);
    }
    if (after !== undefined && after > senderLevel) {
      return deny(`cannot set ${key} to ${after}: above sender's level ${senderLevel}`);
    }
  }

  // 9.6, 9.7
  for (const key of ['events', 'notifications'] as const) {
    const result = checkLevelMap(key, objectField(old, key), objectField(content, key), senderLevel, undefined);
    if (result) return result;
  }

  // 9.8, 9.9: others at or above you are untouchable; your own entry you may lower.
  return checkLevelMap('users', objectField(old, 'users'), objectField(content, 'users'), senderLevel, pdu.sender) ?? ALLOW;
}

function intField(obj: JsonObject, key: string): number | undefined {
  const v = obj[key];
  return isInt(v) ? v : undefined;
}

function objectField(obj: JsonObject, key: string): JsonObject {
  const v = obj[key];
  return isObject(v) ? v : {};
}

/**
 * Compare one map of levels. For `users` (ownEntry set), an existing entry
 * equal to the sender's level is also protected: peers cannot demote each
 * other.
 */
function checkLevelMap(
  name: string,
  before: JsonObject,
  after: JsonObject,
  senderLevel: number,
  ownEntry: string | undefined,
): AuthResult | undefined {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    const b: JsonValue | undefined = before[key];
    const a: JsonValue | undefined = after[key];
    const oldLevel = isInt(b) ? b : undefined;
    const newLevel = isInt(a) ? a : undefined;
    if (oldLevel === newLevel) continue;
    if (oldLevel !== undefined) {
      const protectedLevel =
        ownEntry === undefined ? oldLevel > senderLevel : key !== ownEntry && oldLevel >= senderLevel;
      if (protectedLevel) return deny(`cannot change ${name}[${key}] from ${oldLevel} with level ${senderLevel}`);
    }
    if (newLevel !== undefined && newLevel > senderLevel) {
      return deny(`cannot set ${name}[${key}] to ${newLevel}: above sender's level ${senderLevel}`);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- redaction

/**
 * Whether `senderId` may redact an event sent by `targetEventSender`. Not an
 * auth rule in v10/v11 (auth only requires being allowed to send
 * m.room.redaction); the client API applies it before creating a redaction:
 * your own events always, other users' events with the redact level.
 */
export function canRedact(stateBefore: StateMap, senderId: string, targetEventSender: string): boolean {
  if (senderId === targetEventSender) return true;
  return userPowerLevel(stateBefore, senderId) >= roomPowerLevel(stateBefore, 'redact');
}
