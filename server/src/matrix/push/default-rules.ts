/**
 * The server-default push rules of the Matrix Client-Server API
 * ("Predefined Rules" in the Push Notifications module, spec v1.17+).
 *
 * `defaultPushRules()` returns them in the shape of
 * `GET /_matrix/client/v3/pushrules/`, with the user-specific placeholders
 * (`[the user's Matrix ID]`, ...) filled in. Rules are listed in the spec's
 * order, which is also their priority order within each kind.
 *
 * Since v1.17 the legacy body-based mention rules
 * (`.m.rule.contains_display_name`, `.m.rule.roomnotif` and the content rule
 * `.m.rule.contains_user_name`) are no longer part of the spec; they can be
 * added back with `{ legacyMentionRules: true }` (definitions as in v1.16).
 */

export type PushRuleKind = 'override' | 'content' | 'room' | 'sender' | 'underride';

/** The rule kinds in the order they are evaluated. */
export const PUSH_RULE_KINDS: readonly PushRuleKind[] = ['override', 'content', 'room', 'sender', 'underride'];

export interface PushCondition {
  kind: string;
  /** event_match, event_property_is, event_property_contains, sender_notification_permission. */
  key?: string;
  /** event_match. */
  pattern?: string;
  /** room_member_count, e.g. "2" or ">=10". */
  is?: string;
  /** event_property_is, event_property_contains: a non-compound canonical JSON value. */
  value?: string | number | boolean | null;
}

export interface PushTweak {
  set_tweak: string;
  value?: unknown;
}

export type PushAction = string | PushTweak;

export interface PushRule {
  rule_id: string;
  default: boolean;
  enabled: boolean;
  /** Override and underride rules only. */
  conditions?: PushCondition[];
  /** Content rules only: glob pattern matched against content.body. */
  pattern?: string;
  actions: PushAction[];
}

export type PushRuleset = Record<PushRuleKind, PushRule[]>;

export interface PushRulesResponse {
  global: PushRuleset;
}

export interface DefaultPushRulesOptions {
  /**
   * Also include the legacy mention rules removed in spec v1.17
   * (`.m.rule.contains_display_name`, `.m.rule.roomnotif`,
   * `.m.rule.contains_user_name`), at their v1.16 positions. Default false.
   */
  legacyMentionRules?: boolean;
}

/** Server-default rule IDs always start with a dot. */
export function isServerDefaultRuleId(ruleId: string): boolean {
  return ruleId.startsWith('.');
}

const NOTIFY_SOUND_DEFAULT: PushAction[] = ['notify', { set_tweak: 'sound', value: 'default' }];
const NOTIFY_SOUND_DEFAULT_HIGHLIGHT: PushAction[] = [
  'notify',
  { set_tweak: 'sound', value: 'default' },
  { set_tweak: 'highlight' },
];
const NOTIFY_HIGHLIGHT: PushAction[] = ['notify', { set_tweak: 'highlight' }];

function rule(ruleId: string, conditions: PushCondition[], actions: PushAction[], enabled = true): PushRule {
  return { rule_id: ruleId, default: true, enabled, conditions, actions };
}

function overrideRules(userId: string, legacy: boolean): PushRule[] {
  const rules: PushRule[] = [
    rule('.m.rule.master', [], [], false),
    rule('.m.rule.suppress_notices', [{ kind: 'event_match', key: 'content.msgtype', pattern: 'm.notice' }], []),
    rule(
      '.m.rule.invite_for_me',
      [
        { key: 'type', kind: 'event_match', pattern: 'm.room.member' },
        { key: 'content.membership', kind: 'event_match', pattern: 'invite' },
        { key: 'state_key', kind: 'event_match', pattern: userId },
      ],
      NOTIFY_SOUND_DEFAULT,
    ),
    rule('.m.rule.member_event', [{ key: 'type', kind: 'event_match', pattern: 'm.room.member' }], []),
    rule(
      '.m.rule.is_user_mention',
      [{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: userId }],
      NOTIFY_SOUND_DEFAULT_HIGHLIGHT,
    ),
  ];
  if (legacy) rules.push(rule('.m.rule.contains_display_name', [{ kind: 'contains_display_name' }], NOTIFY_SOUND_DEFAULT_HIGHLIGHT));
  rules.push(
    rule(
      '.m.rule.is_room_mention',
      [
        { kind: 'event_property_is', key: 'content.m\\.mentions.room', value: true },
        { kind: 'sender_notification_permission', key: 'room' },
      ],
      NOTIFY_HIGHLIGHT,
    ),
  );
  if (legacy) {
    rules.push(
      rule(
        '.m.rule.roomnotif',
        [
          { kind: 'event_match', key: 'content.body', pattern: '@room' },
          { kind: 'sender_notification_permission', key: 'room' },
        ],
        NOTIFY_HIGHLIGHT,
      ),
    );
  }
  rules.push(
    rule(
      '.m.rule.tombstone',
      [
        { kind: 'event_match', key: 'type', pattern: 'm.room.tombstone' },
        { kind: 'event_match', key: 'state_key', pattern: '' },
      ],
      NOTIFY_HIGHLIGHT,
    ),
    rule('.m.rule.reaction', [{ kind: 'event_match', key: 'type', pattern: 'm.reaction' }], []),
    rule(
      '.m.rule.room.server_acl',
      [
        { kind: 'event_match', key: 'type', pattern: 'm.room.server_acl' },
        { kind: 'event_match', key: 'state_key', pattern: '' },
      ],
      [],
    ),
    rule(
      '.m.rule.suppress_edits',
      [{ kind: 'event_property_is', key: 'content.m\\.relates_to.rel_type', value: 'm.replace' }],
      [],
    ),
  );
  return rules;
}

function contentRules(localpart: string, legacy: boolean): PushRule[] {
  if (!legacy) return [];
  return [
    {
      rule_id: '.m.rule.contains_user_name',
      default: true,
      enabled: true,
      pattern: localpart,
      actions: NOTIFY_SOUND_DEFAULT_HIGHLIGHT,
    },
  ];
}

function underrideRules(): PushRule[] {
  return [
    rule('.m.rule.call', [{ key: 'type', kind: 'event_match', pattern: 'm.call.invite' }], [
      'notify',
      { set_tweak: 'sound', value: 'ring' },
    ]),
    rule(
      '.m.rule.encrypted_room_one_to_one',
      [
        { kind: 'room_member_count', is: '2' },
        { kind: 'event_match', key: 'type', pattern: 'm.room.encrypted' },
      ],
      NOTIFY_SOUND_DEFAULT,
    ),
    rule(
      '.m.rule.room_one_to_one',
      [
        { kind: 'room_member_count', is: '2' },
        { kind: 'event_match', key: 'type', pattern: 'm.room.message' },
      ],
      NOTIFY_SOUND_DEFAULT,
    ),
    rule('.m.rule.message', [{ kind: 'event_match', key: 'type', pattern: 'm.room.message' }], ['notify']),
    rule('.m.rule.encrypted', [{ kind: 'event_match', key: 'type', pattern: 'm.room.encrypted' }], ['notify']),
  ];
}

/**
 * The server-default push ruleset for a user, as returned by
 * `GET /_matrix/client/v3/pushrules/`. Returns a fresh, independently
 * mutable object on every call.
 *
 * @param userId the user's full Matrix ID, e.g. `@alice:example.org`
 * @param localpart the user's localpart, e.g. `alice` (only used by the
 *   legacy `.m.rule.contains_user_name` content rule)
 */
export function defaultPushRules(
  userId: string,
  localpart: string,
  options: DefaultPushRulesOptions = {},
): PushRulesResponse {
  if (!userId.startsWith('@')) throw new TypeError(`defaultPushRules: not a user ID: ${userId}`);
  const legacy = options.legacyMentionRules === true;
  const global: PushRuleset = {
    override: overrideRules(userId, legacy),
    content: contentRules(localpart, legacy),
    room: [],
    sender: [],
    underride: underrideRules(),
  };
  // Shared action arrays above must not leak between rules or calls.
  return { global: structuredClone(global) };
}

/** The server-default rule IDs of each kind, in priority order. */
export function defaultPushRuleIds(options: DefaultPushRulesOptions = {}): Record<PushRuleKind, string[]> {
  const { global } = defaultPushRules('@placeholder:localhost', 'placeholder', options);
  const out = {} as Record<PushRuleKind, string[]>;
  for (const kind of PUSH_RULE_KINDS) out[kind] = global[kind].map((r) => r.rule_id);
  return out;
}
