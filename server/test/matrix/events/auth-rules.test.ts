import { describe, expect, it } from 'vitest';
import { authEventKeys, canRedact, checkEventAuth } from '../../../src/matrix/events/auth-rules.ts';
import type { AuthResult } from '../../../src/matrix/events/auth-rules.ts';
import { encodeUrlSafeBase64 } from '../../../src/matrix/events/base64.ts';
import type { JsonObject, Pdu, RoomVersion, StateMap } from '../../../src/matrix/events/pdu.ts';
import { generateSigningKey, publicKeyBase64, publicKeyOf, signJson } from '../../../src/matrix/events/signing.ts';
import {
  ALICE,
  BOB,
  CAROL,
  DEFAULT_LEVELS,
  MOD,
  ROOM,
  createEvent,
  joinRules,
  member,
  message,
  pdu,
  powerLevels,
  stateEvent,
  stateOf,
  typicalRoom,
  withState,
} from './room-fixtures.ts';

const DAVE = '@dave:example.org'; // a second level-50 user in some tests

function expectAllowed(result: AuthResult): void {
  expect(result).toEqual({ allowed: true });
}

function expectDenied(result: AuthResult, reason?: RegExp): void {
  expect(result.allowed).toBe(false);
  if (reason && !result.allowed) expect(result.reason).toMatch(reason);
}

const VERSIONS: RoomVersion[] = ['10', '11'];

describe.each(VERSIONS)('room version %s', (v) => {
  const room = (rule = 'invite', levels: JsonObject = DEFAULT_LEVELS): StateMap => typicalRoom(v, rule, levels);
  const check = (ev: Pdu, state: StateMap) => checkEventAuth(ev, state, v);

  // -------------------------------------------------------------- rule 1
  describe('m.room.create', () => {
    it('allows a well-formed create event', () => {
      expectAllowed(check(createEvent(v), new Map()));
    });

    it('rejects a create event with prev_events', () => {
      const ev = createEvent(v);
      ev.prev_events = ['$earlier'];
      expectDenied(check(ev, new Map()), /prev_events/);
    });

    it('rejects when room_id and sender domains differ', () => {
      const ev = createEvent(v, '@alice:elsewhere.org');
      expectDenied(check(ev, new Map()), /domain/);
    });

    it.each([['9'], ['99'], [10]])('rejects unrecognised room_version %j', (version) => {
      const ev = createEvent(v);
      ev.content['room_version'] = version;
      expectDenied(check(ev, new Map()), /room version/);
    });

    it('allows an absent room_version (only a present unknown one is rejected)', () => {
      const ev = createEvent(v);
      delete ev.content['room_version'];
      expectAllowed(check(ev, new Map()));
    });

    it(v === '10' ? 'requires content.creator' : 'does not require content.creator', () => {
      const ev = createEvent(v);
      delete ev.content['creator'];
      if (v === '10') expectDenied(check(ev, new Map()), /creator/);
      else expectAllowed(check(ev, new Map()));
    });
  });

  // -------------------------------------------------------------- rules 2, 3
  describe('room preconditions', () => {
    it('rejects any other event when the room has no create event', () => {
      expectDenied(check(message(ALICE), stateOf(member(ALICE, 'join'))), /m\.room\.create/);
    });

    it('rejects when a state event it depends on belongs to another room', () => {
      const foreign = member(BOB, 'join');
      foreign.room_id = '!other:example.org';
      expectDenied(check(message(BOB), withState(room(), foreign)), /another room/);
    });

    it('rejects senders from other servers when m.federate is false', () => {
      const state = stateOf(createEvent(v, ALICE, { 'm.federate': false }), member(ALICE, 'join'), joinRules('public'));
      expectDenied(check(member('@eve:other.org', 'join'), state), /federated/);
      expectAllowed(check(member(BOB, 'join'), state));
    });
  });

  // -------------------------------------------------------------- rule 4.3
  describe('joins', () => {
    it('allows the creator to join right after the create event', () => {
      const create = createEvent(v);
      const join = member(ALICE, 'join');
      join.prev_events = [create.event_id];
      expectAllowed(check(join, stateOf(create)));
    });

    it('identifies the creator per version (v10: content.creator, v11: sender)', () => {
      const create = createEvent(v, ALICE);
      if (v === '10') create.content['creator'] = BOB;
      const bobJoin = member(BOB, 'join');
      bobJoin.prev_events = [create.event_id];
      const aliceJoin = member(ALICE, 'join');
      aliceJoin.prev_events = [create.event_id];
      if (v === '10') {
        expectAllowed(check(bobJoin, stateOf(create)));
        expectDenied(check(aliceJoin, stateOf(create)));
      } else {
        expectAllowed(check(aliceJoin, stateOf(create)));
        expectDenied(check(bobJoin, stateOf(create)));
      }
    });

    it('does not give the creator shortcut when other events came first', () => {
      const create = createEvent(v);
      const join = member(ALICE, 'join');
      join.prev_events = ['$something-else'];
      expectDenied(check(join, stateOf(create)), /invite/);
    });

    it('allows anyone to join a public room', () => {
      expectAllowed(check(member(CAROL, 'join'), room('public')));
    });

    it('rejects an uninvited join to an invite-only room', () => {
      expectDenied(check(member(CAROL, 'join'), room('invite')), /not invited/);
    });

    it('allows an invited user to join an invite-only room', () => {
      const state = withState(room('invite'), member(CAROL, 'invite', { sender: ALICE }));
      expectAllowed(check(member(CAROL, 'join'), state));
    });

    it('allows a joined user to re-join (e.g. a profile change)', () => {
      expectAllowed(check(member(BOB, 'join', { content: { displayname: 'Bobby' } }), room('invite')));
    });

    it('treats a room without join_rules as invite-only', () => {
      const state = stateOf(createEvent(v), member(ALICE, 'join'));
      expectDenied(check(member(CAROL, 'join'), state));
      expectAllowed(check(member(CAROL, 'join'), withState(state, member(CAROL, 'invite', { sender: ALICE }))));
    });

    it('rejects joining on behalf of someone else', () => {
      expectDenied(check(member(CAROL, 'join', { sender: ALICE }), room('public')), /another user/);
    });

    it('rejects a banned user even in a public room', () => {
      const state = withState(room('public'), member(CAROL, 'ban', { sender: ALICE }));
      expectDenied(check(member(CAROL, 'join'), state), /banned/);
    });

    it('under the knock rule, allows invited users only', () => {
      expectDenied(check(member(CAROL, 'join'), room('knock')));
      expectAllowed(check(member(CAROL, 'join'), withState(room('knock'), member(CAROL, 'invite', { sender: ALICE }))));
    });

    it('rejects an unknown join rule such as private', () => {
      expectDenied(check(member(CAROL, 'join'), room('private')), /private/);
    });

    describe.each(['restricted', 'knock_restricted'])('join rule %s', (rule) => {
      it('allows an invited user', () => {
        expectAllowed(check(member(CAROL, 'join'), withState(room(rule), member(CAROL, 'invite', { sender: ALICE }))));
      });

      it('allows a join authorised by a joined user able to invite', () => {
        const join = member(CAROL, 'join', { content: { join_authorised_via_users_server: MOD } });
        expectAllowed(check(join, room(rule)));
      });

      it('rejects a join without an authorising user', () => {
        expectDenied(check(member(CAROL, 'join'), room(rule)), /restricted/);
      });

      it('rejects an authorising user who is not joined', () => {
        const join = member(CAROL, 'join', { content: { join_authorised_via_users_server: DAVE } });
        expectDenied(check(join, room(rule)), /restricted/);
      });

      it('rejects an authorising user below the invite level', () => {
        const join = member(CAROL, 'join', { content: { join_authorised_via_users_server: BOB } });
        expectDenied(check(join, room(rule, { ...DEFAULT_LEVELS, invite: 50 })), /restricted/);
      });

      it('rejects an authorising user of another server (could not have signed it)', () => {
        const join = member(CAROL, 'join', { content: { join_authorised_via_users_server: '@mod:other.org' } });
        expectDenied(check(join, withState(room(rule), member('@mod:other.org', 'join'))), /signing server/);
      });
    });
  });

  // -------------------------------------------------------------- rule 4.4
  describe('invites', () => {
    it('allows a joined member at the invite level to invite', () => {
      expectAllowed(check(member(CAROL, 'invite', { sender: BOB }), room()));
    });

    it('rejects invites from non-members', () => {
      expectDenied(check(member(DAVE, 'invite', { sender: CAROL }), room()), /not joined/);
      const invited = withState(room(), member(CAROL, 'invite', { sender: ALICE }));
      expectDenied(check(member(DAVE, 'invite', { sender: CAROL }), invited), /not joined/);
    });

    it('rejects inviting someone already joined or banned', () => {
      expectDenied(check(member(BOB, 'invite', { sender: ALICE }), room()), /joined/);
      const banned = withState(room(), member(CAROL, 'ban', { sender: ALICE }));
      expectDenied(check(member(CAROL, 'invite', { sender: ALICE }), banned), /banned/);
    });

    it('allows re-inviting someone who left or is already invited', () => {
      const left = withState(room(), member(CAROL, 'leave'));
      expectAllowed(check(member(CAROL, 'invite', { sender: BOB }), left));
      const invited = withState(room(), member(CAROL, 'invite', { sender: ALICE }));
      expectAllowed(check(member(CAROL, 'invite', { sender: BOB }), invited));
    });

    it('requires the invite level when it is raised', () => {
      const state = room('invite', { ...DEFAULT_LEVELS, invite: 50 });
      expectDenied(check(member(CAROL, 'invite', { sender: BOB }), state), /requires power level 50/);
      expectAllowed(check(member(CAROL, 'invite', { sender: MOD }), state));
    });

    describe('third-party invites', () => {
      const idKey = generateSigningKey();
      const idKeyId = 'ed25519:0';
      const token = 'tok123';
      const tpiEvent = (sender: string, content: JsonObject = { public_key: publicKeyBase64(idKey) }) =>
        stateEvent('m.room.third_party_invite', sender, token, { display_name: 'c...@e.org', ...content });
      const signed = (mxid = CAROL, key = idKey) =>
        signJson({ mxid, token, sender: ALICE }, 'id.example.org', { keyId: idKeyId, seed: key.seed });
      const tpInvite = (s: JsonObject | undefined, sender = ALICE) =>
        member(CAROL, 'invite', { sender, content: { third_party_invite: s === undefined ? { display_name: 'x' } : { display_name: 'x', signed: s } } });

      it('allows an invite carrying a valid identity-server signature', () => {
        expectAllowed(check(tpInvite(signed()), withState(room(), tpiEvent(ALICE))));
      });

      it('accepts keys from public_keys, in either base64 alphabet', () => {
        const state = withState(
          room(),
          tpiEvent(ALICE, { public_keys: [{ public_key: 'AAAA' }, { public_key: encodeUrlSafeBase64(publicKeyOf(idKey)) }] }),
        );
        expectAllowed(check(tpInvite(signed()), state));
      });

      it('rejects a signature by another key', () => {
        expectDenied(check(tpInvite(signed(CAROL, generateSigningKey())), withState(room(), tpiEvent(ALICE))), /signature/);
      });

      it('rejects a missing signed block, or one without mxid/token', () => {
        const state = withState(room(), tpiEvent(ALICE));
        expectDenied(check(tpInvite(undefined), state), /signed/);
        expectDenied(check(tpInvite({ mxid: CAROL }), state), /mxid or token/);
      });

      it('rejects when mxid is not the invited user', () => {
        expectDenied(check(tpInvite(signed(DAVE)), withState(room(), tpiEvent(ALICE))), /mxid/);
      });

      it('rejects without a matching m.room.third_party_invite', () => {
        expectDenied(check(tpInvite(signed()), room()), /third_party_invite for this token/);
      });

      it('rejects when the invite is completed by someone other than its sender', () => {
        expectDenied(check(tpInvite(signed(), BOB), withState(room(), tpiEvent(ALICE))), /did not send/);
      });

      it('rejects a banned target', () => {
        const state = withState(room(), tpiEvent(ALICE), member(CAROL, 'ban', { sender: ALICE }));
        expectDenied(check(tpInvite(signed()), state), /banned/);
      });
    });
  });

  // -------------------------------------------------------------- rule 4.5
  describe('leaves and kicks', () => {
    it.each(['join', 'invite', 'knock'])('allows a user to leave from %s', (from) => {
      const state = withState(room('knock'), member(CAROL, from, { sender: from === 'invite' ? ALICE : CAROL }));
      expectAllowed(check(member(CAROL, 'leave'), state));
    });

    it('rejects leaving when banned, already left, or never there', () => {
      expectDenied(check(member(CAROL, 'leave'), withState(room(), member(CAROL, 'ban', { sender: ALICE }))), /ban/);
      expectDenied(check(member(CAROL, 'leave'), withState(room(), member(CAROL, 'leave'))), /leave/);
      expectDenied(check(member(CAROL, 'leave'), room()), /none/);
    });

    it('allows kicking a lower-powered user with the kick level', () => {
      expectAllowed(check(member(BOB, 'leave', { sender: MOD }), room()));
    });

    it('allows revoking an invite (kicking an invited user)', () => {
      const state = withState(room(), member(CAROL, 'invite', { sender: BOB }));
      expectAllowed(check(member(CAROL, 'leave', { sender: MOD }), state));
    });

    it('rejects kicking without the kick level', () => {
      expectDenied(check(member(MOD, 'leave', { sender: BOB }), room()), /kicking requires/);
      const state = withState(room(), member(DAVE, 'join'));
      expectDenied(check(member(DAVE, 'leave', { sender: BOB }), state), /kicking requires/);
    });

    it('rejects kicking a user with higher or equal power', () => {
      expectDenied(check(member(ALICE, 'leave', { sender: MOD }), room()), /equal to or higher/);
      const levels = { ...DEFAULT_LEVELS, users: { [ALICE]: 100, [MOD]: 50, [DAVE]: 50 } };
      const state = withState(room('invite', levels), member(DAVE, 'join'));
      expectDenied(check(member(DAVE, 'leave', { sender: MOD }), state), /equal to or higher/);
    });

    it('rejects kicks from non-members', () => {
      const state = withState(room(), member(MOD, 'leave'));
      expectDenied(check(member(BOB, 'leave', { sender: MOD }), state), /not joined/);
    });

    it('allows unbanning with both kick and ban level', () => {
      const state = withState(room(), member(CAROL, 'ban', { sender: ALICE }));
      expectAllowed(check(member(CAROL, 'leave', { sender: MOD }), state));
    });

    it('rejects unbanning below the ban level', () => {
      const state = withState(room('invite', { ...DEFAULT_LEVELS, ban: 75 }), member(CAROL, 'ban', { sender: ALICE }));
      expectDenied(check(member(CAROL, 'leave', { sender: MOD }), state), /unbanning/);
    });

    it('rejects unbanning below the kick level', () => {
      const state = withState(room('invite', { ...DEFAULT_LEVELS, kick: 75 }), member(CAROL, 'ban', { sender: ALICE }));
      expectDenied(check(member(CAROL, 'leave', { sender: MOD }), state), /kicking requires/);
    });
  });

  // -------------------------------------------------------------- rule 4.6
  describe('bans', () => {
    it('allows banning a lower-powered member or a stranger', () => {
      expectAllowed(check(member(BOB, 'ban', { sender: MOD }), room()));
      expectAllowed(check(member(CAROL, 'ban', { sender: MOD }), room()));
    });

    it('rejects banning without the ban level', () => {
      expectDenied(check(member(CAROL, 'ban', { sender: BOB }), room()), /banning requires/);
    });

    it('rejects banning a user with higher or equal power', () => {
      expectDenied(check(member(ALICE, 'ban', { sender: MOD }), room()), /equal to or higher/);
      expectDenied(check(member(MOD, 'ban', { sender: MOD }), room()), /equal to or higher/);
    });

    it('rejects bans from non-members', () => {
      const state = room('invite', { ...DEFAULT_LEVELS, users: { ...(DEFAULT_LEVELS['users'] as JsonObject), [CAROL]: 100 } });
      expectDenied(check(member(BOB, 'ban', { sender: CAROL }), state), /not joined/);
    });
  });

  // -------------------------------------------------------------- rule 4.7, 4.8, 4.1
  describe('knocks and malformed memberships', () => {
    it.each(['knock', 'knock_restricted'])('allows a stranger to knock under %s', (rule) => {
      expectAllowed(check(member(CAROL, 'knock'), room(rule)));
    });

    it.each(['invite', 'public', 'restricted'])('rejects knocking under %s', (rule) => {
      expectDenied(check(member(CAROL, 'knock'), room(rule)), /knocking/);
    });

    it('rejects knocking for someone else', () => {
      expectDenied(check(member(CAROL, 'knock', { sender: BOB }), room('knock')), /behalf/);
    });

    it.each(['ban', 'invite', 'join'])('rejects knocking when already %s', (m) => {
      const state = withState(room('knock'), member(CAROL, m, { sender: m === 'join' ? CAROL : ALICE }));
      expectDenied(check(member(CAROL, 'knock'), state), /knock/);
    });

    it('allows knocking again after leaving', () => {
      expectAllowed(check(member(CAROL, 'knock'), withState(room('knock'), member(CAROL, 'leave'))));
    });

    it('rejects unknown or missing membership and missing state_key', () => {
      expectDenied(check(member(CAROL, 'dance'), room('public')), /unknown membership/);
      const noMembership = member(CAROL, 'join');
      delete noMembership.content['membership'];
      expectDenied(check(noMembership, room('public')), /no membership/);
      const noStateKey = member(CAROL, 'join');
      delete noStateKey.state_key;
      expectDenied(check(noStateKey, room('public')), /state_key/);
    });
  });

  // -------------------------------------------------------------- rules 5-8
  describe('other events', () => {
    it('allows messages from joined members', () => {
      expectAllowed(check(message(BOB), room()));
    });

    it.each([
      ['a stranger', undefined],
      ['an invited user', 'invite'],
      ['a user who left', 'leave'],
      ['a banned user', 'ban'],
      ['a knocking user', 'knock'],
    ])('rejects messages from %s', (_name, membership) => {
      const state = membership ? withState(room('knock'), member(CAROL, membership, { sender: ALICE })) : room();
      expectDenied(check(message(CAROL), state), /not joined/);
    });

    it('enforces events_default and events[type] for messages', () => {
      const state = room('invite', { ...DEFAULT_LEVELS, events_default: 10, events: { 'm.reaction': 0 } });
      expectDenied(check(message(BOB), state), /requires power level 10/);
      expectAllowed(check(message(MOD), state));
      expectAllowed(check(pdu({ type: 'm.reaction', sender: BOB }), state));
    });

    it('enforces state_default for state events', () => {
      const topic = (sender: string) => stateEvent('m.room.topic', sender, '', { topic: 't' });
      expectDenied(check(topic(BOB), room()), /requires power level 50/);
      expectAllowed(check(topic(MOD), room()));
    });

    it('enforces explicit levels for state events', () => {
      const pl = (sender: string) => powerLevels({ ...DEFAULT_LEVELS }, sender);
      expectDenied(check(pl(MOD), room()), /requires power level 100/);
      expectAllowed(check(stateEvent('m.room.name', MOD, '', { name: 'n' }), room()));
    });

    it('uses the no-power-levels defaults: creator 100, state needs 50', () => {
      const state = stateOf(createEvent(v), member(ALICE, 'join'), joinRules('public'), member(BOB, 'join'));
      expectAllowed(check(stateEvent('m.room.topic', ALICE, '', {}), state));
      expectDenied(check(stateEvent('m.room.topic', BOB, '', {}), state), /requires power level 50/);
      expectAllowed(check(message(BOB), state));
    });

    it('reserves state keys starting with @ for the named user', () => {
      const state = room('invite', { ...DEFAULT_LEVELS, events: { 'org.example.status': 0 } });
      expectAllowed(check(stateEvent('org.example.status', BOB, BOB, {}), state));
      expectDenied(check(stateEvent('org.example.status', BOB, MOD, {}), state), /"@"/);
      expectDenied(check(stateEvent('org.example.status', ALICE, BOB, {}), state), /"@"/);
      expectAllowed(check(stateEvent('org.example.status', BOB, 'device-1', {}), state));
    });

    it('requires the invite level for m.room.third_party_invite', () => {
      const ev = (sender: string) => stateEvent('m.room.third_party_invite', sender, 'tok', { public_key: 'AAAA' });
      expectAllowed(check(ev(BOB), room()));
      const strict = room('invite', { ...DEFAULT_LEVELS, invite: 50 });
      expectDenied(check(ev(BOB), strict), /invite level/);
      expectAllowed(check(ev(MOD), strict));
    });

    it('lets anyone who may send m.room.redaction send one (redact level is not an auth rule)', () => {
      const redaction = (sender: string) =>
        pdu({ type: 'm.room.redaction', sender, content: { redacts: '$alice-msg' }, redacts: '$alice-msg' });
      expectAllowed(check(redaction(BOB), room()));
      const strict = room('invite', { ...DEFAULT_LEVELS, events: { 'm.room.redaction': 50 } });
      expectDenied(check(redaction(BOB), strict), /requires power level 50/);
    });
  });

  // -------------------------------------------------------------- rule 9
  describe('m.room.power_levels changes', () => {
    const change = (sender: string, patch: JsonObject, base: JsonObject = DEFAULT_LEVELS, rule = 'invite') => {
      const levels = { ...base, events: { ...(base['events'] as JsonObject), 'm.room.power_levels': 50 } };
      const state = room(rule, levels);
      return check(powerLevels({ ...levels, ...patch }, sender), state);
    };
    const users = (extra: JsonObject) => ({ users: { ...(DEFAULT_LEVELS['users'] as JsonObject), ...extra } });

    it('allows the first power_levels event with any valid content', () => {
      const create = createEvent(v);
      const state = stateOf(create, member(ALICE, 'join'));
      expectAllowed(check(powerLevels({ users: { [ALICE]: 100, [BOB]: 1000 }, ban: 500 }), state));
    });

    it.each([
      ['string users_default', { users_default: '0' }, /users_default/],
      ['float ban', { ban: 50.5 }, /ban/],
      ['null kick', { kick: null }, /kick/],
      ['events not an object', { events: [] }, /events/],
      ['events with a string value', { events: { 'm.room.name': '50' } }, /events/],
      ['notifications with a string value', { notifications: { room: '50' } }, /notifications/],
      ['users not an object', { users: 'all' }, /users/],
      ['users key not a user ID', { users: { alice: 10 } }, /not a user ID/],
      ['users value a string', { users: { [ALICE]: '100' } }, /not an integer/],
    ])('rejects %s', (_name, patch, reason) => {
      expectDenied(change(ALICE, patch), reason);
    });

    it('rejects malformed values even in the first power_levels event', () => {
      const state = stateOf(createEvent(v), member(ALICE, 'join'));
      expectDenied(check(powerLevels({ users: { [ALICE]: '100' } }), state), /not an integer/);
    });

    it('accepts a power_levels event without users', () => {
      const { users: _u, ...rest } = DEFAULT_LEVELS;
      const state = room('invite', { ...DEFAULT_LEVELS, users: { [ALICE]: 100 } });
      expectAllowed(check(powerLevels({ ...rest }, ALICE), state));
    });

    it('lets an admin change everything up to their level', () => {
      expectAllowed(change(ALICE, { ban: 100, kick: 0, ...users({ [BOB]: 100, [MOD]: 0 }), events: { x: 100 } }));
    });

    it('lets a moderator promote others up to, but not above, their level', () => {
      expectAllowed(change(MOD, users({ [BOB]: 50 })));
      expectDenied(change(MOD, users({ [BOB]: 51 })), /above sender's level/);
    });

    it('forbids changing or removing the entry of a higher user', () => {
      expectDenied(change(MOD, users({ [ALICE]: 0 })), /users\[@alice/);
      expectDenied(change(MOD, { users: { [MOD]: 50 } }), /users\[@alice/);
    });

    it('forbids demoting a peer at the same level', () => {
      const base = { ...DEFAULT_LEVELS, ...users({ [DAVE]: 50 }) };
      expectDenied(change(MOD, { users: { [ALICE]: 100, [MOD]: 50, [DAVE]: 0 } }, base), /users\[@dave/);
    });

    it('allows lowering (but not raising) your own level', () => {
      expectAllowed(change(MOD, users({ [MOD]: 10 })));
      expectDenied(change(MOD, users({ [MOD]: 60 })), /above sender's level/);
    });

    it('allows demoting a lower user', () => {
      const base = { ...DEFAULT_LEVELS, ...users({ [BOB]: 20 }) };
      expectAllowed(change(MOD, { users: { [ALICE]: 100, [MOD]: 50 } }, base));
    });

    it('applies the top-level rules to additions, changes and removals', () => {
      expectAllowed(change(MOD, { ban: 40 })); // 50 -> 40
      expectDenied(change(MOD, { ban: 60 }), /set ban to 60/);
      expectDenied(change(MOD, { kick: 10 }, { ...DEFAULT_LEVELS, kick: 75 }), /change kick from 75/);
      const { redact: _r, ...withoutRedact } = DEFAULT_LEVELS;
      expectDenied(check(powerLevels({ ...withoutRedact, events: { 'm.room.power_levels': 50 } }, MOD), room('invite', { ...DEFAULT_LEVELS, redact: 75, events: { 'm.room.power_levels': 50 } })), /change redact from 75/);
      const { invite: _i, ...withoutInvite } = DEFAULT_LEVELS;
      expectAllowed(change(MOD, { invite: 50 }, withoutInvite)); // added at own level
      expectDenied(change(MOD, { users_default: 51 }), /users_default/);
    });

    it('applies the events rules: cannot touch entries above you, cannot add above you', () => {
      const base = { ...DEFAULT_LEVELS, events: { 'm.room.name': 50, 'm.room.tombstone': 100 } };
      expectAllowed(change(MOD, { events: { 'm.room.name': 20, 'm.room.tombstone': 100, 'm.room.power_levels': 50 } }, base));
      expectAllowed(change(MOD, { events: { 'm.room.tombstone': 100, 'm.room.power_levels': 50 } }, base)); // removes name (50)
      expectDenied(change(MOD, { events: { 'm.room.name': 50, 'm.room.tombstone': 0, 'm.room.power_levels': 50 } }, base), /tombstone/);
      expectDenied(change(MOD, { events: { 'm.room.name': 50, 'm.room.power_levels': 50 } }, base), /tombstone/);
      expectDenied(change(MOD, { events: { 'm.room.name': 50, 'm.room.tombstone': 100, 'm.room.power_levels': 50, 'x.new': 51 } }, base), /x\.new/);
    });

    it('applies the same rules to notifications', () => {
      const base = { ...DEFAULT_LEVELS, notifications: { room: 75 } };
      expectDenied(change(MOD, { notifications: { room: 0 } }, base), /notifications\[room\]/);
      expectDenied(change(MOD, { notifications: { room: 60 } }), /notifications\[room\]/);
      expectAllowed(change(MOD, { notifications: { room: 50 } }));
    });

    it('rejects power level changes from users below the event level', () => {
      expectDenied(check(powerLevels({ ...DEFAULT_LEVELS }, BOB), room()), /requires power level 100/);
    });
  });
});

describe('canRedact', () => {
  const state = typicalRoom('11');

  it('lets anyone redact their own events', () => {
    expect(canRedact(state, BOB, BOB)).toBe(true);
  });

  it("requires the redact level for other users' events", () => {
    expect(canRedact(state, MOD, BOB)).toBe(true);
    expect(canRedact(state, BOB, ALICE)).toBe(false);
    const strict = typicalRoom('11', 'invite', { ...DEFAULT_LEVELS, redact: 75 });
    expect(canRedact(strict, MOD, BOB)).toBe(false);
  });
});

describe('authEventKeys', () => {
  it('is empty for m.room.create', () => {
    expect(authEventKeys(createEvent('11'))).toEqual([]);
  });

  it('selects create, power levels and the sender membership for ordinary events', () => {
    expect(authEventKeys(message(BOB))).toEqual([
      ['m.room.create', ''],
      ['m.room.power_levels', ''],
      ['m.room.member', BOB],
    ]);
  });

  it('adds join_rules for joins without duplicating the sender membership', () => {
    expect(authEventKeys(member(BOB, 'join'))).toEqual([
      ['m.room.create', ''],
      ['m.room.power_levels', ''],
      ['m.room.member', BOB],
      ['m.room.join_rules', ''],
    ]);
  });

  it('adds the target membership and join_rules for invites, and the third-party invite token', () => {
    const invite = member(CAROL, 'invite', { sender: ALICE, content: { third_party_invite: { signed: { mxid: CAROL, token: 'tok' } } } });
    expect(authEventKeys(invite)).toEqual([
      ['m.room.create', ''],
      ['m.room.power_levels', ''],
      ['m.room.member', ALICE],
      ['m.room.member', CAROL],
      ['m.room.join_rules', ''],
      ['m.room.third_party_invite', 'tok'],
    ]);
  });

  it('adds the authorising user of a restricted join', () => {
    const join = member(CAROL, 'join', { content: { join_authorised_via_users_server: MOD } });
    expect(authEventKeys(join)).toContainEqual(['m.room.member', MOD]);
  });

  it('adds join_rules for knocks but not for leaves or bans', () => {
    expect(authEventKeys(member(CAROL, 'knock'))).toContainEqual(['m.room.join_rules', '']);
    expect(authEventKeys(member(BOB, 'leave', { sender: MOD }))).toEqual([
      ['m.room.create', ''],
      ['m.room.power_levels', ''],
      ['m.room.member', MOD],
      ['m.room.member', BOB],
    ]);
    expect(authEventKeys(member(BOB, 'ban', { sender: MOD }))).not.toContainEqual(['m.room.join_rules', '']);
  });

  it('lists what checkEventAuth needs: checking against only those entries gives the same answer', () => {
    const state = withState(typicalRoom('11', 'restricted'), stateEvent('m.room.topic', ALICE, '', { topic: 't' }));
    const events = [
      message(BOB),
      member(CAROL, 'join', { content: { join_authorised_via_users_server: MOD } }),
      member(BOB, 'ban', { sender: MOD }),
      member(CAROL, 'invite', { sender: BOB }),
    ];
    for (const ev of events) {
      const subset: StateMap = new Map();
      for (const [t, k] of authEventKeys(ev)) {
        const key = `${t}\u0000${k}`;
        const entry = state.get(key);
        if (entry) subset.set(key, entry);
      }
      expect(checkEventAuth(ev, subset, '11')).toEqual(checkEventAuth(ev, state, '11'));
    }
  });
});

// Sanity check that the fixture room itself is consistent.
describe('fixtures', () => {
  it('builds a room whose own state events pass auth', () => {
    expect(ROOM).toMatch(/^!/);
    const create = createEvent('11');
    const join = member(ALICE, 'join');
    join.prev_events = [create.event_id];
    let state = stateOf(create);
    for (const ev of [join, powerLevels(DEFAULT_LEVELS), joinRules('invite')]) {
      expectAllowed(checkEventAuth(ev, state, '11'));
      state = withState(state, ev);
    }
  });
});
