import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  PUSH_RULE_KINDS,
  defaultPushRuleIds,
  defaultPushRules,
  isServerDefaultRuleId,
} from '../../../src/matrix/push/default-rules.ts';
import type { PushRule } from '../../../src/matrix/push/default-rules.ts';
import { expectSpecResponse, specDir, validateResponse } from '../../support/spec-schemas.ts';

const USER = '@alice:example.org';
const LOCALPART = 'alice';

const OVERRIDE_IDS = [
  '.m.rule.master',
  '.m.rule.suppress_notices',
  '.m.rule.invite_for_me',
  '.m.rule.member_event',
  '.m.rule.is_user_mention',
  '.m.rule.is_room_mention',
  '.m.rule.tombstone',
  '.m.rule.reaction',
  '.m.rule.room.server_acl',
  '.m.rule.suppress_edits',
];
const UNDERRIDE_IDS = [
  '.m.rule.call',
  '.m.rule.encrypted_room_one_to_one',
  '.m.rule.room_one_to_one',
  '.m.rule.message',
  '.m.rule.encrypted',
];

/** The JSON rule definitions of push.md's "Predefined Rules" section, by kind. */
function specDefinitions(): { override: unknown[]; underride: unknown[] } {
  const md = fs.readFileSync(path.join(specDir(), 'content/client-server-api/modules/push.md'), 'utf8');
  const section = (from: string, to: string): unknown[] => {
    const start = md.indexOf(from);
    const end = md.indexOf(to, start);
    expect(start, from).toBeGreaterThan(-1);
    expect(end, to).toBeGreaterThan(start);
    return [...md.slice(start, end).matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!));
  };
  return {
    override: section('##### Default Override Rules', '##### Default Underride Rules'),
    underride: section('##### Default Underride Rules', '#### Push Rules: API'),
  };
}

function fillPlaceholders(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value)
      .replaceAll("[the user's Matrix ID]", USER)
      .replaceAll("[the local part of the user's Matrix ID]", LOCALPART),
  );
}

describe('defaultPushRules', () => {
  const { global } = defaultPushRules(USER, LOCALPART);

  it('lists the rules in the spec order', () => {
    expect(global.override.map((r) => r.rule_id)).toEqual(OVERRIDE_IDS);
    expect(global.content).toEqual([]);
    expect(global.room).toEqual([]);
    expect(global.sender).toEqual([]);
    expect(global.underride.map((r) => r.rule_id)).toEqual(UNDERRIDE_IDS);
    expect(Object.keys(global)).toEqual([...PUSH_RULE_KINDS]);
    expect(defaultPushRuleIds()).toEqual({
      override: OVERRIDE_IDS,
      content: [],
      room: [],
      sender: [],
      underride: UNDERRIDE_IDS,
    });
  });

  it('has the expected number of rules', () => {
    const all = PUSH_RULE_KINDS.flatMap((k) => global[k]);
    expect(global.override).toHaveLength(10);
    expect(global.underride).toHaveLength(5);
    expect(all).toHaveLength(15);
    expect(new Set(all.map((r) => r.rule_id)).size).toBe(all.length);
  });

  it('matches the definitions in the spec text exactly', () => {
    const spec = specDefinitions();
    expect(global.override).toEqual(spec.override.map(fillPlaceholders));
    expect(global.underride).toEqual(spec.underride.map(fillPlaceholders));
  });

  it('marks every rule as a server default with the required fields', () => {
    for (const kind of PUSH_RULE_KINDS) {
      for (const r of global[kind]) {
        expect(isServerDefaultRuleId(r.rule_id)).toBe(true);
        expect(r.default).toBe(true);
        expect(typeof r.enabled).toBe('boolean');
        expect(Array.isArray(r.actions)).toBe(true);
        if (kind === 'override' || kind === 'underride') {
          expect(Array.isArray(r.conditions)).toBe(true);
          expect(r.pattern).toBeUndefined();
        }
      }
    }
    const enabled = Object.fromEntries(global.override.map((r) => [r.rule_id, r.enabled]));
    expect(enabled['.m.rule.master']).toBe(false);
    expect(Object.values(enabled).filter((e) => !e)).toHaveLength(1);
    expect(global.underride.every((r) => r.enabled)).toBe(true);
  });

  it('fills in the user-specific placeholders', () => {
    const byId = new Map(global.override.map((r) => [r.rule_id, r]));
    expect(byId.get('.m.rule.invite_for_me')!.conditions).toContainEqual({
      key: 'state_key',
      kind: 'event_match',
      pattern: USER,
    });
    expect(byId.get('.m.rule.is_user_mention')!.conditions).toEqual([
      { kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: USER },
    ]);
    expect(JSON.stringify(global)).not.toMatch(/\[the /);

    const bob = defaultPushRules('@bob:other.example', 'bob').global;
    expect(bob.override.find((r) => r.rule_id === '.m.rule.is_user_mention')!.conditions![0]!.value).toBe(
      '@bob:other.example',
    );
    expect(() => defaultPushRules('bob', 'bob')).toThrow(TypeError);
  });

  it('returns independent copies', () => {
    const a = defaultPushRules(USER, LOCALPART).global;
    const b = defaultPushRules(USER, LOCALPART).global;
    a.override[0]!.enabled = true;
    (a.underride[1]!.actions[1] as { value: string }).value = 'changed';
    expect(b.override[0]!.enabled).toBe(false);
    expect(b.underride[1]!.actions[1]).toEqual({ set_tweak: 'sound', value: 'default' });
    expect(b.underride[2]!.actions[1]).toEqual({ set_tweak: 'sound', value: 'default' });
  });

  it('can add the legacy (pre-v1.17) mention rules', () => {
    const legacy = defaultPushRules(USER, LOCALPART, { legacyMentionRules: true }).global;
    expect(legacy.override.map((r) => r.rule_id)).toEqual([
      '.m.rule.master',
      '.m.rule.suppress_notices',
      '.m.rule.invite_for_me',
      '.m.rule.member_event',
      '.m.rule.is_user_mention',
      '.m.rule.contains_display_name',
      '.m.rule.is_room_mention',
      '.m.rule.roomnotif',
      '.m.rule.tombstone',
      '.m.rule.reaction',
      '.m.rule.room.server_acl',
      '.m.rule.suppress_edits',
    ]);
    const content: PushRule[] = legacy.content;
    expect(content).toEqual([
      {
        rule_id: '.m.rule.contains_user_name',
        default: true,
        enabled: true,
        pattern: LOCALPART,
        actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }],
      },
    ]);
    expect(legacy.underride.map((r) => r.rule_id)).toEqual(UNDERRIDE_IDS);
    expectSpecResponse('GET', '/_matrix/client/v3/pushrules/', 200, { global: legacy });
  });

  it("validates against the spec's GET /pushrules/ response schema", () => {
    expectSpecResponse('GET', '/_matrix/client/v3/pushrules/', 200, defaultPushRules(USER, LOCALPART));
    // Sanity check that the schema is really applied.
    const broken = defaultPushRules(USER, LOCALPART);
    delete (broken.global.override[0] as Partial<PushRule>).default;
    expect(validateResponse('GET', '/_matrix/client/v3/pushrules/', 200, broken).ok).toBe(false);
    expect(validateResponse('GET', '/_matrix/client/v3/pushrules/', 200, { override: [] }).ok).toBe(false);
  });
});
