// Wire shape of a room event as the server stores it (room versions 10 and 11).
// Clients see the "client format" (no hashes/signatures/auth_events/prev_events/depth).

export type RoomVersion = '10' | '11';
export const SUPPORTED_ROOM_VERSIONS: readonly RoomVersion[] = ['10', '11'];
export const DEFAULT_ROOM_VERSION: RoomVersion = '10';

export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

export interface Pdu {
  event_id: string;
  room_id: string;
  sender: string;
  type: string;
  state_key?: string;
  content: JsonObject;
  origin_server_ts: number;
  depth: number;
  prev_events: string[];
  auth_events: string[];
  hashes: { sha256: string };
  signatures: Record<string, Record<string, string>>;
  redacts?: string; // top-level in v10; in v11 it lives in content.redacts (kept here too for convenience)
  unsigned?: JsonObject;
}

/** Key of an entry in a room state map. */
export function stateMapKey(type: string, stateKey: string): string {
  return `${type}\u0000${stateKey}`;
}

/** State of a room at some point: (type, state_key) -> event. */
export type StateMap = Map<string, Pdu>;
