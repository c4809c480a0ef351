import { SELF } from './rule-set.ts';
import { PUSH_RULE_KINDS, type PushAction, type PushCondition, type PushRule, type PushRuleset } from './default-rules.ts';

/**
 * Push rule evaluation ("Push Rules" in the Client-Server API): the first enabled rule that
 * matches, in kind order, decides the actions. Pure and synchronous, so that evaluating a room
 * of a thousand members is a loop over in-memory rules (the caller loads everything first).
 */

/** What a condition may look at besides the event itself. */
export interface EvalContext {
  userId: string;
  /** The recipient's display name in the room (contains_display_name); null when unset. */
  displayName: string | null;
  /** Joined members (room_member_count). */
  memberCount: number;
  /** The sender's power level and the levels of `notifications` (sender_notification_permission). */
  senderPowerLevel: number;
  notificationLevels: Record<string, number>;
}

export interface PushOutcome {
  actions: PushAction[];
  notify: boolean;
  highlight: boolean;
  ruleId: string;
}

/** The event as rules see it (the client form's top-level keys). */
export type EventJson = Record<string, unknown> & { type: string; sender: string; room_id: string; content: Record<string, unknown> };

const globCache = new Map<string, RegExp>();
const MAX_CACHED_GLOBS = 10_000;

/** A glob (`*`, `?`) as a case-insensitive regular expression; `word` matches within content.body. */
export function globToRegExp(pattern: string, word: boolean): RegExp {
  const key = `${word ? 'w' : 'e'}${pattern}`;
  let re = globCache.get(key);
  if (re) return re;
  let body = '';
  for (const ch of pattern) {
    if (ch === '*') body += '.*?';
    else if (ch === '?') body += '.';
    else body += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  // A word boundary is the start or end of the value or a character outside [A-Za-z0-9_].
  re = new RegExp(word ? `(?:^|[^A-Za-z0-9_])${body}(?:[^A-Za-z0-9_]|$)` : `^${body}$`, 'isu');
  if (globCache.size >= MAX_CACHED_GLOBS) globCache.clear();
  globCache.set(key, re);
  return re;
}

/** Splits a dot-separated property path; `\.` is a literal dot and `\\` a literal backslash. */
export function splitKey(key: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < key.length; i++) {
    const ch = key[i]!;
    if (ch === '\\' && (key[i + 1] === '.' || key[i + 1] === '\\')) {
      current += key[i + 1];
      i++;
    } else if (ch === '.') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

const keyCache = new Map<string, string[]>();

function lookup(event: Record<string, unknown>, key: string): unknown {
  let path = keyCache.get(key);
  if (!path) {
    path = splitKey(key);
    if (keyCache.size >= MAX_CACHED_GLOBS) keyCache.clear();
    keyCache.set(key, path);
  }
  let node: unknown = event;
  for (const part of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v));
}

function memberCountMatches(is: unknown, count: number): boolean {
  if (typeof is !== 'string') return false;
  const m = /^(==|<=|>=|<|>)?([0-9]{1,9})$/.exec(is);
  if (!m) return false;
  const n = Number(m[2]);
  switch (m[1]) {
    case '<': return count < n;
    case '>': return count > n;
    case '<=': return count <= n;
    case '>=': return count >= n;
    default: return count === n;
  }
}

function conditionHolds(c: PushCondition, event: EventJson, ctx: EvalContext): boolean {
  // A rule is data from a user: whatever it holds, it must not stop the evaluation of others.
  try {
    return holds(c, event, ctx);
  } catch {
    return false;
  }
}

function holds(c: PushCondition, event: EventJson, ctx: EvalContext): boolean {
  switch (c.kind) {
    case 'event_match': {
      if (typeof c.key !== 'string' || typeof c.pattern !== 'string') return false;
      const value = lookup(event, c.key);
      if (typeof value !== 'string') return false;
      if (c.pattern === SELF) return value.toLowerCase() === ctx.userId.toLowerCase();
      return globToRegExp(c.pattern, c.key === 'content.body').test(value);
    }
    case 'event_property_is': {
      if (typeof c.key !== 'string' || !isScalar(c.value)) return false;
      const value = lookup(event, c.key);
      return isScalar(value) && value === (c.value === SELF ? ctx.userId : c.value);
    }
    case 'event_property_contains': {
      if (typeof c.key !== 'string' || !isScalar(c.value)) return false;
      const value = lookup(event, c.key);
      const wanted = c.value === SELF ? ctx.userId : c.value;
      return Array.isArray(value) && value.some((v) => isScalar(v) && v === wanted);
    }
    case 'contains_display_name': {
      const body = event.content.body;
      if (typeof body !== 'string' || !ctx.displayName) return false;
      // The display name as a whole word, not as a glob: names may hold * or ?.
      const escaped = ctx.displayName.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      return new RegExp(`(?:^|[^A-Za-z0-9_])${escaped}(?:[^A-Za-z0-9_]|$)`, 'iu').test(body);
    }
    case 'room_member_count':
      return memberCountMatches(c.is, ctx.memberCount);
    case 'sender_notification_permission': {
      if (typeof c.key !== 'string') return false;
      const required = Object.hasOwn(ctx.notificationLevels, c.key) ? ctx.notificationLevels[c.key]! : 50;
      return ctx.senderPowerLevel >= required;
    }
    default:
      // Unrecognised conditions never match (spec): such a rule is as good as disabled.
      return false;
  }
}

function ruleMatches(kind: string, rule: PushRule, event: EventJson, ctx: EvalContext): boolean {
  switch (kind) {
    case 'override':
    case 'underride':
      return (rule.conditions ?? []).every((c) => conditionHolds(c, event, ctx));
    case 'content': {
      const body = event.content.body;
      if (typeof rule.pattern !== 'string' || typeof body !== 'string') return false;
      try {
        return globToRegExp(rule.pattern, true).test(body);
      } catch {
        return false;
      }
    }
    case 'room':
      return rule.rule_id === event.room_id;
    case 'sender':
      return rule.rule_id === event.sender;
    default:
      return false;
  }
}

/** What the actions of a matched rule mean: notify at all, and highlight. */
export function outcomeOf(actions: PushAction[], ruleId: string): PushOutcome {
  let notify = false;
  let highlight = false;
  for (const a of actions) {
    if (a === 'notify') notify = true;
    else if (typeof a === 'object' && a !== null && a.set_tweak === 'highlight') highlight = a.value === undefined || a.value === true;
  }
  return { actions, notify, highlight: notify && highlight, ruleId };
}

/** The actions for one recipient, or undefined when no enabled rule matches. */
export function evaluate(rules: PushRuleset, event: EventJson, ctx: EvalContext): PushOutcome | undefined {
  for (const kind of PUSH_RULE_KINDS) {
    for (const rule of rules[kind]) {
      if (!rule.enabled) continue;
      if (ruleMatches(kind, rule, event, ctx)) return outcomeOf(rule.actions, rule.rule_id);
    }
  }
  return undefined;
}

const displayNameUse = new WeakMap<PushRuleset, boolean>();

/** Does an enabled rule of the set look at the recipient's display name? (Cached per ruleset.) */
export function usesDisplayName(rules: PushRuleset): boolean {
  let uses = displayNameUse.get(rules);
  if (uses === undefined) {
    const looks = (r: PushRule) => r.enabled && (r.conditions?.some((c) => c.kind === 'contains_display_name') ?? false);
    uses = rules.override.some(looks) || rules.underride.some(looks);
    displayNameUse.set(rules, uses);
  }
  return uses;
}

/** What every recipient of one event shares: all of EvalContext but who they are. */
export type SharedContext = Omit<EvalContext, 'userId' | 'displayName'>;

/**
 * Evaluates one event for many recipients; returns the recipients with an outcome.
 *
 * Rules can tell two recipients apart only through the recipient's own user ID (SELF in the
 * shared defaults) and display name. So recipients who have the very same ruleset object
 * (everyone who kept the server defaults) and whom the event does not name anywhere get the
 * same outcome: it is computed once per ruleset and reused. A user is "named" when their ID
 * appears in the event's JSON (case-insensitively, as event_match compares it); a user ID with
 * characters that JSON escapes, and any ruleset that reads display names, are evaluated in full.
 * In a room of a thousand members this turns a thousand evaluations into a few.
 */
export function evaluateForRecipients(
  recipients: readonly string[],
  rulesOf: (userId: string) => PushRuleset,
  event: EventJson,
  shared: SharedContext,
  displayNameOf: (userId: string) => string | null = () => null,
): Array<{ userId: string; outcome: PushOutcome }> {
  const haystack = JSON.stringify(event).toLowerCase();
  const common = new Map<PushRuleset, PushOutcome | undefined>();
  const ctx: EvalContext = { ...shared, userId: '', displayName: null };
  const out: Array<{ userId: string; outcome: PushOutcome }> = [];
  for (const userId of recipients) {
    const rules = rulesOf(userId);
    ctx.userId = userId;
    let outcome: PushOutcome | undefined;
    const personal = usesDisplayName(rules) || /["\\\u0000-\u001f]/.test(userId) || haystack.includes(userId.toLowerCase());
    if (personal) {
      ctx.displayName = displayNameOf(userId);
      outcome = evaluate(rules, event, ctx);
    } else if (common.has(rules)) {
      outcome = common.get(rules);
    } else {
      ctx.displayName = null;
      outcome = evaluate(rules, event, ctx);
      common.set(rules, outcome);
    }
    if (outcome) out.push({ userId, outcome });
  }
  return out;
}
