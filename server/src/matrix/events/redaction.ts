// The redaction algorithm of room versions 10 (= v9 rules) and 11.
//
// It matters beyond honouring m.room.redaction: signatures and event IDs are
// computed over the redacted form, so a single key out of place here changes
// every event ID this server mints. Keep it exactly to the spec lists.

import type { JsonObject, JsonValue, Pdu, RoomVersion } from './pdu.ts';

// Top-level keys protected from redaction. v11 dropped origin, membership and
// prev_state (MSC2176/MSC3989): they carried no meaning the protocol relies on.
const KEPT_TOP_LEVEL_V10: ReadonlySet<string> = new Set([
  'event_id',
  'type',
  'room_id',
  'sender',
  'state_key',
  'content',
  'hashes',
  'signatures',
  'depth',
  'prev_events',
  'prev_state',
  'auth_events',
  'origin',
  'origin_server_ts',
  'membership',
]);

const KEPT_TOP_LEVEL_V11: ReadonlySet<string> = new Set([
  'event_id',
  'type',
  'room_id',
  'sender',
  'state_key',
  'content',
  'hashes',
  'signatures',
  'depth',
  'prev_events',
  'auth_events',
  'origin_server_ts',
]);

// Content keys that the authorization rules (or room semantics that must
// survive a redaction, like history visibility) depend on.
const KEPT_CONTENT_V10: Readonly<Record<string, readonly string[]>> = {
  'm.room.member': ['membership', 'join_authorised_via_users_server'],
  'm.room.create': ['creator'],
  'm.room.join_rules': ['join_rule', 'allow'],
  'm.room.power_levels': ['ban', 'events', 'events_default', 'kick', 'redact', 'state_default', 'users', 'users_default'],
  'm.room.history_visibility': ['history_visibility'],
};

const KEPT_CONTENT_V11: Readonly<Record<string, readonly string[]>> = {
  'm.room.member': ['membership', 'join_authorised_via_users_server'],
  // m.room.create keeps all of its content in v11 (handled below).
  'm.room.join_rules': ['join_rule', 'allow'],
  // `invite` is an auth-rule input, so losing it let a redaction change who may invite.
  'm.room.power_levels': [
    'ban',
    'events',
    'events_default',
    'invite',
    'kick',
    'redact',
    'state_default',
    'users',
    'users_default',
  ],
  'm.room.history_visibility': ['history_visibility'],
  // v11 moved `redacts` into content; without it a redacted redaction would no
  // longer say what it redacted.
  'm.room.redaction': ['redacts'],
};

/** The content that survives redaction of an event of `type`. */
export function redactContent(type: string, content: JsonObject, roomVersion: RoomVersion): JsonObject {
  if (roomVersion === '11' && type === 'm.room.create') return structuredClone(content);

  const kept = (roomVersion === '11' ? KEPT_CONTENT_V11 : KEPT_CONTENT_V10)[type] ?? [];
  const out: JsonObject = {};
  for (const key of kept) {
    if (Object.hasOwn(content, key)) out[key] = structuredClone(content[key] as JsonValue);
  }

  // v11 (MSC3821): a third-party-invite join must stay verifiable after
  // redaction, which needs `signed`; the rest (display_name...) may go.
  if (roomVersion === '11' && type === 'm.room.member') {
    const tpi = content['third_party_invite'];
    if (isObject(tpi) && Object.hasOwn(tpi, 'signed')) {
      out['third_party_invite'] = { signed: structuredClone(tpi['signed'] as JsonValue) };
    }
  }
  return out;
}

/**
 * Redact any event-shaped object (federation/PDU format or client format):
 * drop unprotected top-level keys and strip `content`. Returns a deep copy;
 * the input is never mutated.
 *
 * `unsigned` is not protected, so it is dropped too; when serving a redacted
 * event to clients the caller adds `unsigned.redacted_because` itself.
 */
export function redactEventObject(event: object, roomVersion: RoomVersion): JsonObject {
  const keep = roomVersion === '11' ? KEPT_TOP_LEVEL_V11 : KEPT_TOP_LEVEL_V10;
  const fields = event as Readonly<Record<string, unknown>>;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(fields)) {
    if (!keep.has(key) || value === undefined) continue;
    if (key === 'content') {
      const type = typeof fields['type'] === 'string' ? fields['type'] : '';
      out[key] = isObject(value) ? redactContent(type, value, roomVersion) : {};
    } else {
      out[key] = structuredClone(value) as JsonValue;
    }
  }
  return out;
}

/** Redact a stored PDU (see redactEventObject). */
export function redactEvent(pdu: Pdu, roomVersion: RoomVersion): Pdu {
  // Every required Pdu key is protected in both versions, so the result is still a Pdu.
  return redactEventObject(pdu, roomVersion) as unknown as Pdu;
}

/**
 * Redact an event in the client format (event_id, type, content, sender,
 * origin_server_ts, state_key, unsigned...). The same algorithm applies; it is
 * a separate name so call sites say which shape they hold.
 */
export function redactClientEvent(event: object, roomVersion: RoomVersion): JsonObject {
  return redactEventObject(event, roomVersion);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
