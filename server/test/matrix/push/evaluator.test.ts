import { describe, expect, it } from 'vitest';
import { defaultPushRules } from '../../../src/matrix/push/default-rules.ts';
import { evaluate, evaluateForRecipients, globToRegExp, splitKey, type EvalContext, type EventJson } from '../../../src/matrix/push/evaluator.ts';
import { changeRule, deleteRule, effectiveRules, emptyRules, putRule, rulesForEvaluation } from '../../../src/matrix/push/rule-set.ts';

const ME = '@alice:example.org';
const ctx = (over: Partial<EvalContext> = {}): EvalContext => ({
  userId: ME,
  displayName: 'Alice',
  memberCount: 5,
  senderPowerLevel: 0,
  notificationLevels: { room: 50 },
  ...over,
});
const msg = (content: Record<string, unknown>, extra: Partial<EventJson> = {}): EventJson => ({
  type: 'm.room.message',
  sender: '@bob:example.org',
  room_id: '!r:example.org',
  content: { msgtype: 'm.text', ...content },
  ...extra,
});
const rules = () => defaultPushRules(ME, 'alice').global;

describe('push rule evaluation', () => {
  it('applies the spec defaults: group messages notify, DMs ring, mentions highlight, notices and edits stay quiet', () => {
    expect(evaluate(rules(), msg({ body: 'bonjour' }), ctx())).toMatchObject({ ruleId: '.m.rule.message', notify: true, highlight: false });
    expect(evaluate(rules(), msg({ body: 'bonjour' }), ctx({ memberCount: 2 }))).toMatchObject({ ruleId: '.m.rule.room_one_to_one', notify: true });
    expect(evaluate(rules(), msg({ body: 'x', 'm.mentions': { user_ids: [ME] } }), ctx())).toMatchObject({ ruleId: '.m.rule.is_user_mention', highlight: true });
    expect(evaluate(rules(), msg({ body: 'x', msgtype: 'm.notice' }), ctx())?.notify).toBe(false);
    expect(evaluate(rules(), msg({ body: '* x', 'm.relates_to': { rel_type: 'm.replace', event_id: '$e' } }), ctx())?.notify).toBe(false);
    expect(evaluate(rules(), { ...msg({}), type: 'm.reaction', content: {} }, ctx())?.notify).toBe(false);
    expect(evaluate(rules(), { ...msg({}), type: 'm.room.encrypted', content: { algorithm: 'x' } }, ctx({ memberCount: 2 }))?.ruleId).toBe('.m.rule.encrypted_room_one_to_one');
    const invite = { type: 'm.room.member', sender: '@bob:example.org', room_id: '!r:x', state_key: ME, content: { membership: 'invite' } };
    expect(evaluate(rules(), invite, ctx())).toMatchObject({ ruleId: '.m.rule.invite_for_me', notify: true });
    expect(evaluate(rules(), { ...invite, state_key: '@carol:x' }, ctx())?.notify).toBe(false);
    expect(evaluate(rules(), { type: 'org.example.custom', sender: '@b:x', room_id: '!r:x', content: {} }, ctx())).toBeUndefined();
  });

  it('evaluates the shared defaults for each recipient as their own rules', () => {
    const shared = rulesForEvaluation(undefined);
    expect(evaluate(shared, msg({ body: 'x', 'm.mentions': { user_ids: [ME] } }), ctx())?.ruleId).toBe('.m.rule.is_user_mention');
    expect(evaluate(shared, msg({ body: 'x', 'm.mentions': { user_ids: ['@carol:x'] } }), ctx())?.ruleId).toBe('.m.rule.message');
    const invite = { type: 'm.room.member', sender: '@bob:example.org', room_id: '!r:x', state_key: ME, content: { membership: 'invite' } };
    expect(evaluate(shared, invite, ctx())?.ruleId).toBe('.m.rule.invite_for_me');
    expect(evaluate(shared, { ...invite, state_key: '@carol:x' }, ctx())?.notify).toBe(false);
    const muted = rulesForEvaluation(changeRule(ME, emptyRules(), 'underride', '.m.rule.message', { enabled: false }));
    expect(evaluate(muted, msg({ body: 'x' }), ctx())).toBeUndefined();
  });

  it('lets @room through only for senders with the notifications.room level', () => {
    const ev = msg({ body: 'tous', 'm.mentions': { room: true } });
    expect(evaluate(rules(), ev, ctx({ senderPowerLevel: 0 }))?.highlight).toBe(false);
    expect(evaluate(rules(), ev, ctx({ senderPowerLevel: 50 }))).toMatchObject({ ruleId: '.m.rule.is_room_mention', highlight: true });
    expect(evaluate(rules(), ev, ctx({ senderPowerLevel: 10, notificationLevels: { room: 10 } }))?.highlight).toBe(true);
  });

  it('matches globs case-insensitively, whole values or words of the body', () => {
    expect(globToRegExp('lunc?*', false).test('LUNCH')).toBe(true);
    expect(globToRegExp('lunc?*', false).test(' lunch')).toBe(false);
    expect(globToRegExp('lunc?*', false).test('lunc')).toBe(false);
    expect(globToRegExp('ex*ple', true).test('An example event.')).toBe(true);
    expect(globToRegExp('ex*ple', true).test('exple')).toBe(true);
    expect(globToRegExp('cake', true).test('pancakes')).toBe(false);
    expect(globToRegExp('a.b(c', false).test('a.b(c')).toBe(true);
    expect(globToRegExp('a.b', false).test('axb')).toBe(false);
    // Room ids hold '-' and ':'; a pattern is literal but for * and ?.
    expect(globToRegExp('!UW-8AQ:localhost', false).test('!uw-8aq:localhost')).toBe(true);
    expect(globToRegExp('[a-z]{2}\\d+$', false).test('[a-z]{2}\\d+$')).toBe(true);
    expect(splitKey('content.m\\.relates_to.rel_type')).toEqual(['content', 'm.relates_to', 'rel_type']);
    expect(splitKey('a\\\\.b')).toEqual(['a\\', 'b']);
  });

  it('never matches unknown condition kinds, bad member counts or non-string values', () => {
    const r = rules();
    r.override.unshift({ rule_id: 'u', default: false, enabled: true, conditions: [{ kind: 'org.example.future' }], actions: ['notify'] });
    r.override.unshift({ rule_id: 'c', default: false, enabled: true, conditions: [{ kind: 'room_member_count', is: 'lots' }], actions: ['notify'] });
    r.override.unshift({ rule_id: 'n', default: false, enabled: true, conditions: [{ kind: 'event_match', key: 'content.n', pattern: '*' }], actions: ['notify'] });
    expect(evaluate(r, msg({ body: 'x', n: 5 }), ctx())?.ruleId).toBe('.m.rule.message');
  });

  it('keeps custom rules in order, above the defaults but below the master rule', () => {
    let s = emptyRules();
    s = putRule(s, 'override', 'a', { actions: ['notify'], conditions: [] }, {});
    s = putRule(s, 'override', 'b', { actions: [], conditions: [] }, {});
    s = putRule(s, 'override', 'c', { actions: [], conditions: [] }, { after: 'b' });
    s = putRule(s, 'override', 'd', { actions: [], conditions: [] }, { before: 'a' });
    const ids = effectiveRules(ME, s).override.map((r) => r.rule_id);
    expect(ids.slice(0, 5)).toEqual(['.m.rule.master', 'b', 'c', 'd', 'a']);
    expect(() => putRule(s, 'override', 'e', { actions: [] }, { before: 'nope' })).toThrow(/not found/);
    expect(() => putRule(s, 'override', '.m.rule.x', { actions: [] }, {})).toThrow(/reserved/);
    expect(() => putRule(s, 'override', 'x', { actions: ['explode'] }, {})).toThrow(/Unknown action/);
    expect(() => putRule(s, 'override', 'x', { actions: [], conditions: [{ kind: 'event_match' }] }, {})).toThrow(/lacks/);
    expect(() => putRule(s, 'content', 'x', { actions: [] }, {})).toThrow(/pattern/);
    expect(() => deleteRule(s, 'override', '.m.rule.master')).toThrow();
    s = deleteRule(s, 'override', 'c');
    s = changeRule(ME, s, 'override', '.m.rule.master', { enabled: true });
    s = changeRule(ME, s, 'underride', '.m.rule.message', { actions: [] });
    const eff = effectiveRules(ME, s);
    expect(eff.override.map((r) => r.rule_id).slice(0, 4)).toEqual(['.m.rule.master', 'b', 'd', 'a']);
    expect(eff.override[0]!.enabled).toBe(true);
    expect(evaluate(eff, msg({ body: 'x' }), ctx())?.notify).toBe(false);
  });

  it('evaluates a 1,000-member room in memory without trouble', () => {
    const r = rules();
    const ev = msg({ body: 'hello everyone' });
    let notified = 0;
    for (let i = 0; i < 1000; i++) if (evaluate(r, ev, ctx({ userId: `@u${i}:x`, memberCount: 1000 }))?.notify) notified++;
    expect(notified).toBe(1000);
  });

  it('gives many recipients at once exactly the outcomes of evaluating each alone', () => {
    // Most keep the shared defaults; some have custom rules, one reads display names, and the
    // events name some recipients (mentions, invites, in any case) but not others.
    const users = Array.from({ length: 60 }, (_, i) => `@u${i}:example.org`);
    const withWord = putRule(emptyRules(), 'override', 'urgent', { actions: ['notify', { set_tweak: 'highlight' }], conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'urgent*' }] }, {});
    const byName = putRule(emptyRules(), 'override', 'name', { actions: ['notify', { set_tweak: 'sound', value: 'ring' }], conditions: [{ kind: 'contains_display_name' }] }, {});
    const silent = changeRule(users[3]!, emptyRules(), 'underride', '.m.rule.message', { actions: [] });
    const stored = new Map([[users[1]!, withWord], [users[2]!, byName], [users[3]!, silent]]);
    const rulesets = new Map(users.map((u) => [u, rulesForEvaluation(stored.get(u))]));
    const names = new Map(users.map((u, i) => [u, `Agent ${i}`]));
    const events: EventJson[] = [
      msg({ body: 'urgent: tout le monde' }),
      msg({ body: 'Agent 2 et Agent 5, au rapport' }),
      msg({ body: 'x', 'm.mentions': { user_ids: [users[4], users[7]!.toUpperCase()] } }),
      { type: 'm.room.member', sender: '@bob:example.org', room_id: '!r:example.org', state_key: users[9]!, content: { membership: 'invite' } },
      msg({ body: 'x', msgtype: 'm.notice' }),
    ];
    for (const ev of events) {
      for (const memberCount of [2, 60]) {
        const shared = { memberCount, senderPowerLevel: 0, notificationLevels: { room: 50 } };
        const together = evaluateForRecipients(users, (u) => rulesets.get(u)!, ev, shared, (u) => names.get(u)!);
        const alone = users.flatMap((u) => {
          const outcome = evaluate(rulesets.get(u)!, ev, { ...shared, userId: u, displayName: names.get(u)! });
          return outcome ? [{ userId: u, outcome }] : [];
        });
        expect(together).toEqual(alone);
      }
    }
    // The named users did get something of their own.
    const mention = evaluateForRecipients(users, (u) => rulesets.get(u)!, events[2]!, { memberCount: 60, senderPowerLevel: 0, notificationLevels: { room: 50 } });
    expect(mention.filter((r) => r.outcome.highlight).map((r) => r.userId)).toEqual([users[4]]);
  });
});
