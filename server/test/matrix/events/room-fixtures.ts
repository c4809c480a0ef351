// Concise builders for PDUs and room state in the event tests. Hashes and
// signatures are dummies: auth rules never look at them.

import type { JsonObject, Pdu, RoomVersion, StateMap } from '../../../src/matrix/events/pdu.ts';
import { stateMapKey } from '../../../src/matrix/events/pdu.ts';

export const ROOM = '!room:example.org';
export const ALICE = '@alice:example.org'; // creator, level 100
export const MOD = '@mod:example.org'; // level 50
export const BOB = '@bob:example.org'; // joined, default level 0
export const CAROL = '@carol:example.org'; // not in the room

let seq = 0;

export interface PduInit {
  type: string;
  sender: string;
  content?: JsonObject;
  state_key?: string;
  prev_events?: string[];
  room_id?: string;
  redacts?: string;
}

export function pdu(init: PduInit): Pdu {
  seq += 1;
  const ev: Pdu = {
    event_id: `$ev${seq}`,
    room_id: init.room_id ?? ROOM,
    sender: init.sender,
    type: init.type,
    content: init.content ?? {},
    origin_server_ts: 1_700_000_000_000 + seq,
    depth: seq,
    prev_events: init.prev_events ?? ['$prev'],
    auth_events: [],
    hashes: { sha256: 'x' },
    signatures: {},
  };
  if (init.state_key !== undefined) ev.state_key = init.state_key;
  if (init.redacts !== undefined) ev.redacts = init.redacts;
  return ev;
}

export function createEvent(version: RoomVersion, sender = ALICE, extra: JsonObject = {}): Pdu {
  const content: JsonObject = { room_version: version, ...extra };
  if (version === '10') content['creator'] = sender;
  return pdu({ type: 'm.room.create', sender, state_key: '', content, prev_events: [] });
}

export function member(userId: string, membership: string, opts: { sender?: string; content?: JsonObject } = {}): Pdu {
  return pdu({
    type: 'm.room.member',
    sender: opts.sender ?? userId,
    state_key: userId,
    content: { membership, ...opts.content },
  });
}

export function powerLevels(content: JsonObject, sender = ALICE): Pdu {
  return pdu({ type: 'm.room.power_levels', sender, state_key: '', content });
}

export function joinRules(rule: string, sender = ALICE): Pdu {
  return pdu({ type: 'm.room.join_rules', sender, state_key: '', content: { join_rule: rule } });
}

export function message(sender: string, body = 'hi'): Pdu {
  return pdu({ type: 'm.room.message', sender, content: { msgtype: 'm.text', body } });
}

export function stateEvent(type: string, sender: string, stateKey: string, content: JsonObject = {}): Pdu {
  return pdu({ type, sender, state_key: stateKey, content });
}

/** State map of the given events; later events replace earlier ones. */
export function stateOf(...events: Pdu[]): StateMap {
  const state: StateMap = new Map();
  for (const ev of events) {
    if (ev.state_key === undefined) throw new Error(`${ev.type} is not a state event`);
    state.set(stateMapKey(ev.type, ev.state_key), ev);
  }
  return state;
}

/** Copy of `state` with `events` applied on top. */
export function withState(state: StateMap, ...events: Pdu[]): StateMap {
  const next = new Map(state);
  for (const [k, v] of stateOf(...events)) next.set(k, v);
  return next;
}

export const DEFAULT_LEVELS: JsonObject = {
  users: { [ALICE]: 100, [MOD]: 50 },
  users_default: 0,
  events: { 'm.room.name': 50, 'm.room.power_levels': 100 },
  events_default: 0,
  state_default: 50,
  ban: 50,
  kick: 50,
  redact: 50,
  invite: 0,
};

/** A typical room: ALICE (100), MOD (50), BOB (0) joined; CAROL is a stranger. */
export function typicalRoom(version: RoomVersion, rule = 'invite', levels: JsonObject = DEFAULT_LEVELS): StateMap {
  return stateOf(
    createEvent(version),
    member(ALICE, 'join'),
    powerLevels(levels),
    joinRules(rule),
    member(MOD, 'join'),
    member(BOB, 'join'),
  );
}
