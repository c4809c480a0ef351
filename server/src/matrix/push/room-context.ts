import type { Knex } from 'knex';
import * as pushRepo from '../../storage/push.ts';
import type { StoredEvent } from '../../storage/events.ts';
import { stateMapKey, type Pdu, type StateMap } from '../events/pdu.ts';
import { ROOM_NOTIFICATION_DEFAULT, userPowerLevel } from '../events/power-levels.ts';
import type { PushRuleset } from './default-rules.ts';
import { evaluateForRecipients, usesDisplayName, type EventJson, type PushOutcome } from './evaluator.ts';
import { rulesForEvaluation, type StoredRules } from './rule-set.ts';

/**
 * Everything rules need besides the event, loaded once per batch of events: the joined members
 * of each room, its power levels and create event, each recipient's rules, and display names
 * (only when some rule asks for them). A batch costs a handful of queries, whatever the number
 * of members; the per-recipient work is then in memory.
 */
export interface RoomFacts {
  members: string[];
  state: StateMap;
  notificationLevels: Record<string, number>;
  displayNames: Map<string, string> | undefined;
}

export interface Evaluation {
  event: StoredEvent;
  userId: string;
  outcome: PushOutcome;
}

export function eventJson(pdu: Pdu): EventJson {
  const e: EventJson = { type: pdu.type, sender: pdu.sender, room_id: pdu.room_id, content: pdu.content, event_id: pdu.event_id };
  if (pdu.state_key !== undefined) e.state_key = pdu.state_key;
  return e;
}

/** Who an event may notify: joined members but the sender, and the target of an invite. */
export function recipientsOf(pdu: Pdu, members: string[]): string[] {
  const out = members.filter((u) => u !== pdu.sender);
  if (pdu.type === 'm.room.member' && pdu.content.membership === 'invite' && typeof pdu.state_key === 'string'
    && pdu.state_key !== pdu.sender && !out.includes(pdu.state_key)) {
    out.push(pdu.state_key);
  }
  return out;
}

export class RuleCache {
  readonly #db: Knex;
  readonly #rules = new Map<string, PushRuleset>();

  constructor(db: Knex) {
    this.#db = db;
  }

  async load(userIds: string[]): Promise<void> {
    const missing = userIds.filter((u) => !this.#rules.has(u));
    if (missing.length === 0) return;
    const stored = await pushRepo.rulesOf<StoredRules>(this.#db, missing);
    for (const u of missing) this.#rules.set(u, rulesForEvaluation(stored.get(u)));
  }

  get(userId: string): PushRuleset {
    const r = this.#rules.get(userId);
    if (!r) throw new Error(`rules of ${userId} not loaded`);
    return r;
  }
}

/**
 * Evaluates events for their recipients (`only`: for that user alone, as sync does for events
 * the worker has not reached yet). Returns the notifying outcomes.
 */
export async function evaluateEvents(db: Knex, events: StoredEvent[], only?: string): Promise<Evaluation[]> {
  const live = events.filter((e) => e.redactedBy === null);
  if (live.length === 0) return [];
  const roomIds = [...new Set(live.map((e) => e.pdu.room_id))];
  // One after the other: `db` may be a transaction (one connection).
  const members = await pushRepo.joinedMembers(db, roomIds);
  const powerLevels = await pushRepo.currentStateOfType(db, roomIds, 'm.room.power_levels', ['']);
  const creates = await pushRepo.currentStateOfType(db, roomIds, 'm.room.create', ['']);
  const facts = new Map<string, RoomFacts>();
  for (const roomId of roomIds) {
    const state: StateMap = new Map();
    const pl = powerLevels.get(roomId)?.get('');
    const create = creates.get(roomId)?.get('');
    if (pl) state.set(stateMapKey('m.room.power_levels', ''), pl);
    if (create) state.set(stateMapKey('m.room.create', ''), create);
    const levels: Record<string, number> = { room: ROOM_NOTIFICATION_DEFAULT };
    const notifications = pl?.content.notifications;
    if (notifications && typeof notifications === 'object' && !Array.isArray(notifications)) {
      for (const [k, v] of Object.entries(notifications)) if (typeof v === 'number' && Number.isSafeInteger(v)) levels[k] = v;
    }
    facts.set(roomId, { members: members.get(roomId) ?? [], state, notificationLevels: levels, displayNames: undefined });
  }
  const recipients = new Map<StoredEvent, string[]>();
  const everyone = new Set<string>();
  for (const e of live) {
    let list = recipientsOf(e.pdu, facts.get(e.pdu.room_id)!.members);
    if (only !== undefined) list = list.filter((u) => u === only);
    recipients.set(e, list);
    for (const u of list) everyone.add(u);
  }
  const rules = new RuleCache(db);
  await rules.load([...everyone]);
  // Display names only for rooms where a recipient's rules look at them (custom rules only).
  const needNames = roomIds.filter((r) => live.some((e) => e.pdu.room_id === r && recipients.get(e)!.some((u) => usesDisplayName(rules.get(u)))));
  if (needNames.length > 0) {
    const memberEvents = await pushRepo.currentStateOfType(db, needNames, 'm.room.member');
    for (const r of needNames) {
      const names = new Map<string, string>();
      for (const [userId, ev] of memberEvents.get(r) ?? []) {
        if (typeof ev.content.displayname === 'string' && ev.content.displayname !== '') names.set(userId, ev.content.displayname);
      }
      facts.get(r)!.displayNames = names;
    }
  }
  const out: Evaluation[] = [];
  for (const e of live) {
    const f = facts.get(e.pdu.room_id)!;
    const shared = {
      memberCount: f.members.length,
      senderPowerLevel: userPowerLevel(f.state, e.pdu.sender),
      notificationLevels: f.notificationLevels,
    };
    const outcomes = evaluateForRecipients(recipients.get(e)!, (u) => rules.get(u), eventJson(e.pdu), shared, (u) => f.displayNames?.get(u) ?? null);
    for (const { userId, outcome } of outcomes) if (outcome.notify) out.push({ event: e, userId, outcome });
  }
  return out;
}
