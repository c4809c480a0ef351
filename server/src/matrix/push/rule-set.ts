import { invalidParam, notFound, unknown as unknownError } from '../../errors.ts';
import {
  defaultPushRules,
  isServerDefaultRuleId,
  PUSH_RULE_KINDS,
  type PushAction,
  type PushCondition,
  type PushRule,
  type PushRuleKind,
  type PushRuleset,
} from './default-rules.ts';

/**
 * A user's push rules as stored: only what differs from the server defaults (custom rules per
 * kind in priority order, and enabled/actions changes of default rules), so that a later spec's
 * defaults reach users who changed something too.
 */
export interface StoredRules {
  custom: Partial<Record<PushRuleKind, PushRule[]>>;
  /** Keyed `${kind}/${rule_id}`. */
  defaults: Record<string, { enabled?: boolean; actions?: PushAction[] }>;
}

export const emptyRules = (): StoredRules => ({ custom: {}, defaults: {} });

/** Custom rules per user: enough for any client, small enough to evaluate per recipient. */
export const MAX_CUSTOM_RULES = 300;
const MAX_CONDITIONS = 20;
const MAX_ACTIONS = 20;
const MAX_STRING = 1024;

export function isRuleKind(kind: string): kind is PushRuleKind {
  return (PUSH_RULE_KINDS as readonly string[]).includes(kind);
}

/** The ruleset a user sees and is evaluated with: defaults and custom rules in priority order. */
export function effectiveRules(userId: string, stored: StoredRules | undefined): PushRuleset {
  return merged(defaultPushRules(userId, userId.slice(1).split(':')[0]!).global, stored);
}

/**
 * Stands for the recipient's own user ID in the shared default rules used for evaluation (NUL
 * cannot be in a user ID): building and copying the defaults for each of a thousand members
 * would cost more than evaluating them. The evaluator puts the recipient's ID in its place.
 */
export const SELF = '@\u0000self:\u0000';
let sharedDefaults: PushRuleset | undefined;

/** The ruleset to evaluate for a user: shared defaults (with SELF) and the user's changes. */
export function rulesForEvaluation(stored: StoredRules | undefined): PushRuleset {
  sharedDefaults ??= defaultPushRules(SELF, SELF.slice(1).split(':')[0]!).global;
  return merged(sharedDefaults, stored);
}

function merged(defaults: PushRuleset, stored: StoredRules | undefined): PushRuleset {
  if (!stored) return defaults;
  const out = {} as PushRuleset;
  for (const kind of PUSH_RULE_KINDS) {
    const base = defaults[kind].map((r) => {
      const change = stored.defaults[`${kind}/${r.rule_id}`];
      if (!change) return r;
      return { ...r, enabled: change.enabled ?? r.enabled, actions: change.actions ?? r.actions };
    });
    const custom = stored.custom[kind] ?? [];
    // User-defined rules come before the server defaults of their kind, except .m.rule.master.
    if (kind === 'override' && base[0]?.rule_id === '.m.rule.master') out[kind] = [base[0], ...custom, ...base.slice(1)];
    else out[kind] = [...custom, ...base];
  }
  return out;
}

export function findRule(rules: PushRuleset, kind: PushRuleKind, ruleId: string): PushRule {
  const rule = rules[kind].find((r) => r.rule_id === ruleId);
  if (!rule) throw notFound('The push rule was not found.');
  return rule;
}

function checkString(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length > MAX_STRING) throw invalidParam(`${what} must be a string of at most ${MAX_STRING} characters.`);
  return v;
}

/** Validates actions as the spec defines them; the legacy dont_notify and coalesce are accepted. */
export function parseActions(raw: unknown): PushAction[] {
  if (!Array.isArray(raw) || raw.length > MAX_ACTIONS) throw invalidParam('actions must be an array of at most 20 actions.');
  return raw.map((a): PushAction => {
    if (a === 'notify' || a === 'dont_notify' || a === 'coalesce') return a;
    if (a !== null && typeof a === 'object' && !Array.isArray(a)) {
      const o = a as Record<string, unknown>;
      const tweak = checkString(o.set_tweak, 'set_tweak');
      const keys = Object.keys(o).filter((k) => k !== 'set_tweak' && k !== 'value');
      if (keys.length > 0) throw invalidParam(`Unknown key in a tweak: ${keys[0]}.`);
      if (tweak === 'highlight' && o.value !== undefined && typeof o.value !== 'boolean') throw invalidParam('The highlight tweak takes a boolean.');
      if (tweak === 'sound' && typeof o.value !== 'string') throw invalidParam('The sound tweak takes a string.');
      if (o.value !== undefined && JSON.stringify(o.value).length > MAX_STRING) throw invalidParam('Tweak value too large.');
      return o.value === undefined ? { set_tweak: tweak } : { set_tweak: tweak, value: o.value };
    }
    throw invalidParam(`Unknown action: ${JSON.stringify(a)?.slice(0, 50)}.`);
  });
}

/**
 * Validates conditions. Kinds this server does not know are kept (the spec: they never match),
 * but the parameters of known kinds must have their types.
 */
function parseConditions(raw: unknown): PushCondition[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > MAX_CONDITIONS) throw invalidParam('conditions must be an array of at most 20 conditions.');
  return raw.map((c) => {
    if (c === null || typeof c !== 'object' || Array.isArray(c)) throw invalidParam('A condition must be an object.');
    const o = c as Record<string, unknown>;
    const kind = checkString(o.kind, 'kind');
    const out: PushCondition = { kind };
    if (o.key !== undefined) out.key = checkString(o.key, 'key');
    if (o.pattern !== undefined) out.pattern = checkString(o.pattern, 'pattern');
    if (o.is !== undefined) out.is = checkString(o.is, 'is');
    if (o.value !== undefined) {
      const v = o.value;
      if (!(v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isSafeInteger(v)))) {
        throw invalidParam('value must be a string, an integer, a boolean or null.');
      }
      if (typeof v === 'string') checkString(v, 'value');
      out.value = v;
    }
    if ((kind === 'event_match' && (out.key === undefined || out.pattern === undefined))
      || ((kind === 'event_property_is' || kind === 'event_property_contains') && (out.key === undefined || !('value' in out)))
      || (kind === 'room_member_count' && out.is === undefined)
      || (kind === 'sender_notification_permission' && out.key === undefined)) {
      throw invalidParam(`A ${kind} condition lacks a parameter.`);
    }
    return out;
  });
}

export function checkRuleId(kind: PushRuleKind, ruleId: string): void {
  if (ruleId.length === 0 || ruleId.length > 255 || ruleId.includes('/') || ruleId.includes('\\')) {
    throw invalidParam('Invalid rule id.');
  }
  if (isServerDefaultRuleId(ruleId)) throw invalidParam('Rule ids starting with a dot are reserved for server-default rules.');
  void kind;
}

/** PUT /pushrules/global/{kind}/{ruleId}: adds or replaces a custom rule, placed by before/after. */
export function putRule(
  stored: StoredRules,
  kind: PushRuleKind,
  ruleId: string,
  body: Record<string, unknown>,
  place: { before?: string | undefined; after?: string | undefined },
): StoredRules {
  checkRuleId(kind, ruleId);
  const rule: PushRule = { rule_id: ruleId, default: false, enabled: true, actions: parseActions(body.actions) };
  if (kind === 'override' || kind === 'underride') rule.conditions = parseConditions(body.conditions);
  if (kind === 'content') rule.pattern = checkString(body.pattern, 'pattern');
  const list = [...(stored.custom[kind] ?? [])];
  const existing = list.findIndex((r) => r.rule_id === ruleId);
  if (existing < 0 && Object.values(stored.custom).reduce((n, l) => n + (l?.length ?? 0), 0) >= MAX_CUSTOM_RULES) {
    throw invalidParam(`At most ${MAX_CUSTOM_RULES} push rules.`);
  }
  const anchor = (id: string | undefined) => {
    if (id === undefined) return undefined;
    const at = list.findIndex((r) => r.rule_id === id && id !== ruleId);
    if (at < 0) throw unknownError(`before/after rule not found: ${id.slice(0, 100)}`);
    return id;
  };
  const before = anchor(place.before);
  const after = anchor(place.after);
  if (existing >= 0) {
    // An update keeps the rule's place (and enabled state) unless before/after move it.
    rule.enabled = list[existing]!.enabled;
    list.splice(existing, 1);
    if (before === undefined && after === undefined) {
      list.splice(existing, 0, rule);
      return { ...stored, custom: { ...stored.custom, [kind]: list } };
    }
  }
  // With both, `before` wins (the spec: the next most important rule relative to `before`).
  if (before !== undefined) list.splice(list.findIndex((r) => r.rule_id === before), 0, rule);
  else if (after !== undefined) list.splice(list.findIndex((r) => r.rule_id === after) + 1, 0, rule);
  else list.unshift(rule);
  return { ...stored, custom: { ...stored.custom, [kind]: list } };
}

export function deleteRule(stored: StoredRules, kind: PushRuleKind, ruleId: string): StoredRules {
  if (isServerDefaultRuleId(ruleId)) throw invalidParam('Server-default rules cannot be deleted.');
  const list = stored.custom[kind] ?? [];
  if (!list.some((r) => r.rule_id === ruleId)) throw notFound('The push rule was not found.');
  return { ...stored, custom: { ...stored.custom, [kind]: list.filter((r) => r.rule_id !== ruleId) } };
}

/** Changes `enabled` or `actions` of a rule, default or custom. */
export function changeRule(
  userId: string,
  stored: StoredRules,
  kind: PushRuleKind,
  ruleId: string,
  change: { enabled?: boolean; actions?: PushAction[] },
): StoredRules {
  findRule(effectiveRules(userId, stored), kind, ruleId);
  if (isServerDefaultRuleId(ruleId)) {
    const key = `${kind}/${ruleId}`;
    return { ...stored, defaults: { ...stored.defaults, [key]: { ...stored.defaults[key], ...change } } };
  }
  const list = (stored.custom[kind] ?? []).map((r) => (r.rule_id === ruleId ? { ...r, ...change } : r));
  return { ...stored, custom: { ...stored.custom, [kind]: list } };
}
