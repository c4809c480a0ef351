import { describe, expect, it } from 'vitest';
import {
  POWER_LEVEL_DEFAULTS,
  notificationPowerLevel,
  powerLevel,
  requiredPowerForEvent,
  roomCreator,
  roomPowerLevel,
  userPowerLevel,
} from '../../../src/matrix/events/power-levels.ts';
import { ALICE, BOB, MOD, createEvent, member, powerLevels, stateOf } from './room-fixtures.ts';

describe('power levels: defaults', () => {
  it('uses the spec defaults for an empty content and for no event', () => {
    for (const content of [{}, undefined]) {
      expect(powerLevel(content, 'users_default')).toBe(0);
      expect(powerLevel(content, 'events_default')).toBe(0);
      expect(powerLevel(content, 'state_default')).toBe(50);
      expect(powerLevel(content, 'ban')).toBe(50);
      expect(powerLevel(content, 'kick')).toBe(50);
      expect(powerLevel(content, 'redact')).toBe(50);
      expect(powerLevel(content, 'invite')).toBe(0);
    }
    expect(POWER_LEVEL_DEFAULTS.state_default).toBe(50);
  });

  it('reads explicit values and ignores non-integers', () => {
    expect(powerLevel({ ban: 75 }, 'ban')).toBe(75);
    expect(powerLevel({ ban: -5 }, 'ban')).toBe(-5);
    expect(powerLevel({ ban: '75' }, 'ban')).toBe(50);
    expect(powerLevel({ ban: 7.5 }, 'ban')).toBe(50);
  });

  it('reads the room-level values from state', () => {
    const state = stateOf(createEvent('10'), powerLevels({ kick: 10, invite: 20 }));
    expect(roomPowerLevel(state, 'kick')).toBe(10);
    expect(roomPowerLevel(state, 'invite')).toBe(20);
    expect(roomPowerLevel(state, 'ban')).toBe(50);
  });
});

describe('userPowerLevel', () => {
  it('gives the creator 100 and others 0 when there is no power_levels event (v10: content.creator)', () => {
    const state = stateOf(createEvent('10'), member(ALICE, 'join'), member(BOB, 'join'));
    expect(userPowerLevel(state, ALICE)).toBe(100);
    expect(userPowerLevel(state, BOB)).toBe(0);
  });

  it('uses content.creator in v10 even if it differs from the sender', () => {
    const create = createEvent('10', ALICE);
    create.content['creator'] = BOB;
    const state = stateOf(create);
    expect(userPowerLevel(state, BOB)).toBe(100);
    expect(userPowerLevel(state, ALICE)).toBe(0);
  });

  it('uses the create sender in v11', () => {
    const state = stateOf(createEvent('11', ALICE, { creator: BOB }));
    expect(userPowerLevel(state, ALICE)).toBe(100);
    expect(userPowerLevel(state, BOB)).toBe(0);
    expect(roomCreator(createEvent('11', MOD))).toBe(MOD);
  });

  it('lets an explicit room version override the create content', () => {
    const create = createEvent('11', ALICE);
    create.content['creator'] = BOB;
    expect(roomCreator(create, '10')).toBe(BOB);
    expect(roomCreator(create, '11')).toBe(ALICE);
  });

  it('uses users / users_default once a power_levels event exists (creator no longer special)', () => {
    const state = stateOf(createEvent('11'), powerLevels({ users: { [MOD]: 50 }, users_default: 10 }));
    expect(userPowerLevel(state, MOD)).toBe(50);
    expect(userPowerLevel(state, BOB)).toBe(10);
    expect(userPowerLevel(state, ALICE)).toBe(10);
  });

  it('defaults users_default to 0 and ignores non-integer user levels', () => {
    const state = stateOf(createEvent('11'), powerLevels({ users: { [MOD]: '50' } }));
    expect(userPowerLevel(state, MOD)).toBe(0);
  });

  it('is 0 for everyone in an empty state', () => {
    expect(userPowerLevel(new Map(), ALICE)).toBe(0);
  });
});

describe('requiredPowerForEvent', () => {
  it('uses events[type] first', () => {
    const state = stateOf(powerLevels({ events: { 'm.room.message': 20, 'm.room.name': 0 } }));
    expect(requiredPowerForEvent(state, 'm.room.message', false)).toBe(20);
    expect(requiredPowerForEvent(state, 'm.room.name', true)).toBe(0);
  });

  it('falls back to state_default / events_default', () => {
    const state = stateOf(powerLevels({ state_default: 40, events_default: 5 }));
    expect(requiredPowerForEvent(state, 'm.room.topic', true)).toBe(40);
    expect(requiredPowerForEvent(state, 'm.room.message', false)).toBe(5);
  });

  it('defaults to 50 for state and 0 for messages, with or without a power_levels event', () => {
    for (const state of [new Map(), stateOf(powerLevels({}))]) {
      expect(requiredPowerForEvent(state, 'm.room.topic', true)).toBe(50);
      expect(requiredPowerForEvent(state, 'm.room.message', false)).toBe(0);
    }
  });
});

describe('notificationPowerLevel', () => {
  it('defaults room to 50 and reads explicit values', () => {
    expect(notificationPowerLevel(new Map(), 'room')).toBe(50);
    expect(notificationPowerLevel(stateOf(powerLevels({ notifications: { room: 20 } })), 'room')).toBe(20);
    expect(notificationPowerLevel(stateOf(powerLevels({ notifications: { custom: 5 } })), 'custom')).toBe(5);
    expect(notificationPowerLevel(new Map(), 'custom')).toBeUndefined();
  });
});
