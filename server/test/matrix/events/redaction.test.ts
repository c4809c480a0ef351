import { describe, expect, it } from 'vitest';
import type { JsonObject, Pdu, RoomVersion } from '../../../src/matrix/events/pdu.ts';
import { redactClientEvent, redactContent, redactEvent } from '../../../src/matrix/events/redaction.ts';

function fullPdu(type: string, content: JsonObject, stateKey?: string): Pdu & JsonObject {
  const ev: Pdu & JsonObject = {
    event_id: '$e',
    room_id: '!r:example.org',
    sender: '@u:example.org',
    type,
    content,
    origin_server_ts: 1,
    depth: 2,
    prev_events: ['$p'],
    auth_events: ['$a'],
    hashes: { sha256: 'h' },
    signatures: { 'example.org': { 'ed25519:1': 's' } },
    unsigned: { age: 3 },
    origin: 'example.org',
    membership: 'join',
    prev_state: [],
    age_ts: 9,
    custom_top_level: 'x',
  };
  if (stateKey !== undefined) ev.state_key = stateKey;
  return ev;
}

const COMMON = [
  'event_id',
  'type',
  'room_id',
  'sender',
  'content',
  'hashes',
  'signatures',
  'depth',
  'prev_events',
  'auth_events',
  'origin_server_ts',
];

describe('redaction: top-level keys', () => {
  it('v10 keeps the v9 list including origin, membership, prev_state', () => {
    const out = redactEvent(fullPdu('m.room.message', { body: 'x' }, undefined), '10');
    expect(Object.keys(out).sort()).toEqual([...COMMON, 'origin', 'membership', 'prev_state'].sort());
  });

  it('v11 drops origin, membership and prev_state', () => {
    const out = redactEvent(fullPdu('m.room.message', { body: 'x' }), '11');
    expect(Object.keys(out).sort()).toEqual([...COMMON].sort());
  });

  it.each<RoomVersion>(['10', '11'])('v%s keeps state_key and drops unsigned, redacts, age_ts and unknown keys', (v) => {
    const ev = { ...fullPdu('m.room.topic', { topic: 't' }, ''), redacts: '$x' };
    const out = redactEvent(ev, v) as unknown as JsonObject;
    expect(out['state_key']).toBe('');
    for (const gone of ['unsigned', 'redacts', 'age_ts', 'custom_top_level']) expect(out).not.toHaveProperty(gone);
    expect(out['content']).toEqual({});
  });
});

describe('redaction: content', () => {
  const cases: Array<[string, RoomVersion, JsonObject, JsonObject]> = [
    [
      'm.room.member',
      '10',
      { membership: 'join', displayname: 'U', avatar_url: 'mxc://a/b', join_authorised_via_users_server: '@x:y', third_party_invite: { signed: { a: 1 }, display_name: 'e' } },
      { membership: 'join', join_authorised_via_users_server: '@x:y' },
    ],
    [
      'm.room.member',
      '11',
      { membership: 'invite', displayname: 'U', third_party_invite: { signed: { mxid: '@a:b', token: 't' }, display_name: 'e' } },
      { membership: 'invite', third_party_invite: { signed: { mxid: '@a:b', token: 't' } } },
    ],
    ['m.room.member', '11', { membership: 'join', third_party_invite: { display_name: 'e' } }, { membership: 'join' }],
    ['m.room.member', '11', { membership: 'join', third_party_invite: 'junk' }, { membership: 'join' }],
    ['m.room.create', '10', { creator: '@u:e', room_version: '10', 'm.federate': true }, { creator: '@u:e' }],
    ['m.room.create', '11', { room_version: '11', 'm.federate': false, type: 'm.space', predecessor: { room_id: '!a:b' } }, { room_version: '11', 'm.federate': false, type: 'm.space', predecessor: { room_id: '!a:b' } }],
    ['m.room.join_rules', '10', { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!a:b' }], extra: 1 }, { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!a:b' }] }],
    ['m.room.join_rules', '11', { join_rule: 'public', extra: 1 }, { join_rule: 'public' }],
    ['m.room.history_visibility', '10', { history_visibility: 'shared', x: 1 }, { history_visibility: 'shared' }],
    ['m.room.history_visibility', '11', { history_visibility: 'joined', x: 1 }, { history_visibility: 'joined' }],
    ['m.room.redaction', '10', { redacts: '$x', reason: 'spam' }, {}],
    ['m.room.redaction', '11', { redacts: '$x', reason: 'spam' }, { redacts: '$x' }],
    ['m.room.message', '11', { body: 'hi', msgtype: 'm.text' }, {}],
    ['m.room.name', '10', { name: 'n' }, {}],
  ];
  it.each(cases)('%s in v%s', (type, version, content, expected) => {
    expect(redactContent(type, content, version)).toEqual(expected);
  });

  const pl: JsonObject = {
    ban: 50,
    events: { 'm.room.name': 50 },
    events_default: 0,
    invite: 0,
    kick: 50,
    redact: 50,
    state_default: 50,
    users: { '@u:e': 100 },
    users_default: 0,
    notifications: { room: 50 },
    historical: 1,
  };
  it('m.room.power_levels in v10 drops invite and notifications', () => {
    const { invite: _i, notifications: _n, historical: _h, ...expected } = pl;
    expect(redactContent('m.room.power_levels', pl, '10')).toEqual(expected);
  });
  it('m.room.power_levels in v11 keeps invite', () => {
    const { notifications: _n, historical: _h, ...expected } = pl;
    expect(redactContent('m.room.power_levels', pl, '11')).toEqual(expected);
  });

  it('keeps protected keys even when their values are null or odd', () => {
    expect(redactContent('m.room.member', { membership: null, x: 1 }, '10')).toEqual({ membership: null });
  });
});

describe('redaction: purity', () => {
  it('never mutates its input and returns deep copies', () => {
    const ev = fullPdu('m.room.power_levels', { users: { '@u:e': 100 }, ban: 50 }, '');
    const before = structuredClone(ev);
    const out = redactEvent(ev, '11');
    expect(ev).toEqual(before);
    (out.content['users'] as JsonObject)['@u:e'] = 0;
    out.prev_events.push('$new');
    out.signatures['example.org']!['ed25519:1'] = 'changed';
    expect(ev).toEqual(before);
  });

  it('is idempotent', () => {
    const ev = fullPdu('m.room.member', { membership: 'join', displayname: 'x' }, '@u:example.org');
    for (const v of ['10', '11'] as const) {
      const once = redactEvent(ev, v);
      expect(redactEvent(once, v)).toEqual(once);
    }
  });
});

describe('redaction: client-format events', () => {
  it('strips content and unsigned but keeps the client fields that are protected', () => {
    const ev = {
      event_id: '$e',
      type: 'm.room.member',
      room_id: '!r:example.org',
      sender: '@u:example.org',
      state_key: '@u:example.org',
      origin_server_ts: 5,
      content: { membership: 'join', displayname: 'Me' },
      unsigned: { age: 10, prev_content: { membership: 'invite' } },
    };
    expect(redactClientEvent(ev, '11')).toEqual({
      event_id: '$e',
      type: 'm.room.member',
      room_id: '!r:example.org',
      sender: '@u:example.org',
      state_key: '@u:example.org',
      origin_server_ts: 5,
      content: { membership: 'join' },
    });
    expect(ev.content.displayname).toBe('Me');
  });

  it('v11 keeps content.redacts of a redaction while the top-level copy goes', () => {
    const ev = { event_id: '$r', type: 'm.room.redaction', sender: '@u:e', content: { redacts: '$x', reason: 'r' }, redacts: '$x' };
    expect(redactClientEvent(ev, '11')).toEqual({ event_id: '$r', type: 'm.room.redaction', sender: '@u:e', content: { redacts: '$x' } });
    expect(redactClientEvent(ev, '10')).toEqual({ event_id: '$r', type: 'm.room.redaction', sender: '@u:e', content: {} });
  });
});
