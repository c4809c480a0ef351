import type { Knex } from 'knex';
import { invalidParam, MatrixError, missingParam } from '../../errors.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import * as eventsRepo from '../../storage/events.ts';
import type { StoredEvent } from '../../storage/events.ts';
import * as pushRepo from '../../storage/push.ts';
import type { OutboundGuard } from '../../crisis/channels/outbound-guard.ts';
import { toClientEvents } from '../timeline/client-format.ts';
import type { PushAction, PushRuleKind, PushRulesResponse } from './default-rules.ts';
import type { PushOutcome } from './evaluator.ts';
import { evaluateEvents } from './room-context.ts';
import { changeRule, deleteRule, effectiveRules, emptyRules, findRule, putRule, type StoredRules } from './rule-set.ts';

export interface PusherInput {
  kind: string | null;
  app_id: string;
  pushkey: string;
  app_display_name?: string | undefined;
  device_display_name?: string | undefined;
  profile_tag?: string | undefined;
  lang?: string | undefined;
  data?: Record<string, unknown> | undefined;
  append?: boolean | undefined;
}

/** Pushers per user: a phone, a tablet and a few more, not a fan-out tool. */
const MAX_PUSHERS_PER_USER = 20;
/** Events evaluated at sync time when the worker lags (beyond: the worker's counts catch up). */
const MAX_TAIL_EVENTS = 200;
/** Outcomes of events above the worker's cursor kept for the syncs of their recipients. */
const MAX_EVALUATED_EVENTS = 4096;

export const PUSH_NOTIFY_PATH = '/_matrix/push/v1/notify';

/** Push rules, pushers, notification counts and the /notifications list. */
export class PushService {
  readonly #db: Knex;
  readonly #bus: NotifyBus;
  readonly #guard: OutboundGuard;
  readonly #evaluated = new Map<string, Promise<Map<string, PushOutcome>>>();

  constructor(db: Knex, bus: NotifyBus, guard: OutboundGuard) {
    this.#db = db;
    this.#bus = bus;
    this.#guard = guard;
  }

  // ---- rules ---------------------------------------------------------------------------

  async rules(userId: string): Promise<PushRulesResponse> {
    const stored = (await pushRepo.rulesOf<StoredRules>(this.#db, [userId])).get(userId);
    return { global: effectiveRules(userId, stored) };
  }

  async rule(userId: string, kind: PushRuleKind, ruleId: string) {
    return findRule((await this.rules(userId)).global, kind, ruleId);
  }

  async #change(userId: string, change: (stored: StoredRules) => StoredRules): Promise<void> {
    const pos = await pushRepo.updateRules<StoredRules>(this.#db, userId, emptyRules(), (current) => {
      const stored = change(current);
      return { stored, visible: { global: effectiveRules(userId, stored) } };
    });
    this.#bus.publish({ pos, users: [userId] });
  }

  putRule(userId: string, kind: PushRuleKind, ruleId: string, body: Record<string, unknown>, place: { before?: string | undefined; after?: string | undefined }) {
    return this.#change(userId, (s) => putRule(s, kind, ruleId, body, place));
  }

  deleteRule(userId: string, kind: PushRuleKind, ruleId: string) {
    return this.#change(userId, (s) => deleteRule(s, kind, ruleId));
  }

  setEnabled(userId: string, kind: PushRuleKind, ruleId: string, enabled: boolean) {
    return this.#change(userId, (s) => changeRule(userId, s, kind, ruleId, { enabled }));
  }

  setActions(userId: string, kind: PushRuleKind, ruleId: string, actions: PushAction[]) {
    return this.#change(userId, (s) => changeRule(userId, s, kind, ruleId, { actions }));
  }

  // ---- pushers -------------------------------------------------------------------------

  async pushers(userId: string) {
    const rows = await pushRepo.pushersOf(this.#db, [userId]);
    return rows.map((p) => {
      const out: Record<string, unknown> = {
        pushkey: p.pushkey,
        kind: p.kind,
        app_id: p.app_id,
        app_display_name: p.app_display_name,
        device_display_name: p.device_display_name,
        lang: p.lang,
        data: p.data,
      };
      if (p.profile_tag !== null) out.profile_tag = p.profile_tag;
      return out;
    });
  }

  async setPusher(userId: string, input: PusherInput): Promise<void> {
    if (input.kind === null) {
      await pushRepo.deletePusher(this.#db, userId, input.app_id, input.pushkey);
      return;
    }
    if (input.kind !== 'http') throw invalidParam(`Pushers of kind ${JSON.stringify(input.kind).slice(0, 40)} are not supported (only http).`);
    const missing = (['app_display_name', 'device_display_name', 'lang', 'data'] as const).filter((k) => input[k] === undefined);
    if (missing.length > 0) throw missingParam(`Missing parameters: ${missing.join(', ')}`);
    const data = input.data!;
    if (typeof data.url !== 'string') throw missingParam('data.url is required for http pushers.');
    this.checkGatewayUrl(data.url);
    if (data.format !== undefined && data.format !== 'event_id_only') throw invalidParam('data.format must be event_id_only when given.');
    const existing = await pushRepo.pushersOf(this.#db, [userId]);
    if (!existing.some((p) => p.app_id === input.app_id && p.pushkey === input.pushkey) && existing.length >= MAX_PUSHERS_PER_USER) {
      throw new MatrixError(400, 'M_LIMIT_EXCEEDED', `At most ${MAX_PUSHERS_PER_USER} pushers per user.`);
    }
    await pushRepo.setPusher(
      this.#db,
      {
        user_id: userId,
        kind: 'http',
        app_id: input.app_id,
        pushkey: input.pushkey,
        app_display_name: input.app_display_name!,
        device_display_name: input.device_display_name!,
        profile_tag: input.profile_tag ?? null,
        lang: input.lang!,
        data,
        created_ts: Date.now(),
      },
      input.append === true,
    );
  }

  /** A gateway URL: http(s), the spec's path, and not an address outside outbound_allow_ranges. */
  checkGatewayUrl(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw invalidParam('data.url is not a URL.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalidParam('data.url must be an https URL.');
    if (url.pathname !== PUSH_NOTIFY_PATH) throw invalidParam(`data.url must have the path ${PUSH_NOTIFY_PATH}.`);
    if (url.username || url.password) throw invalidParam('data.url must not carry credentials.');
    try {
      this.#guard.checkHost(url.hostname);
    } catch {
      throw invalidParam('data.url points to an address outside outbound_allow_ranges.');
    }
    return url;
  }

  // ---- counts and notifications --------------------------------------------------------

  /**
   * Notification and highlight counts per room for sync: the worker's evaluations up to its
   * cursor, and for the few events above it (not evaluated yet) an evaluation for this user
   * alone, so that counts are right the moment an event is visible.
   */
  async counts(userId: string, after: Map<string, number>): Promise<Map<string, { notification_count: number; highlight_count: number }>> {
    const { cursor, rooms } = await pushRepo.notificationCounts(this.#db, userId, after);
    let tail: StoredEvent[] = [];
    if (cursor < this.#bus.position) {
      const tailAfter = new Map<string, number>();
      for (const [r, c] of rooms) tailAfter.set(r, Math.max(c.readPos, cursor));
      tail = await pushRepo.eventsAfter(this.#db, userId, tailAfter, MAX_TAIL_EVENTS);
    }
    return this.countsWithTail(userId, rooms, tail);
  }

  /**
   * Notification counts from the stored actions (`rooms`, counted up to the worker's cursor) and
   * the events of others above the cursor and the read position (`tail`), evaluated here.
   */
  async countsWithTail(userId: string, rooms: Map<string, pushRepo.RoomCounts>, tail: StoredEvent[]): Promise<Map<string, { notification_count: number; highlight_count: number }>> {
    const out = new Map<string, { notification_count: number; highlight_count: number }>();
    for (const [r, c] of rooms) out.set(r, { notification_count: c.notifications, highlight_count: c.highlights });
    if (tail.length > 0) {
      const outcomes = await this.#tailOutcomes(tail);
      for (const event of tail) {
        const outcome = outcomes.get(event.pdu.event_id)?.get(userId);
        const c = out.get(event.pdu.room_id);
        if (!c || !outcome) continue;
        c.notification_count = Math.min(999, c.notification_count + 1);
        if (outcome.highlight) c.highlight_count = Math.min(999, c.highlight_count + 1);
      }
    }
    return out;
  }

  /**
   * The notifying outcomes of events the worker has not reached yet, per event and recipient.
   * The members of a room all sync right after a send and all need its outcome: it is evaluated
   * once per process for every recipient (the worker would give the same outcomes), not once per
   * syncing user. Kept for a few thousand events; the worker's stored actions take over.
   */
  async #tailOutcomes(events: StoredEvent[]): Promise<Map<string, Map<string, PushOutcome>>> {
    const missing = events.filter((e) => !this.#evaluated.has(e.pdu.event_id));
    if (missing.length > 0) {
      const evaluation = evaluateEvents(this.#db, missing).then((list) => {
        const byEvent = new Map<string, Map<string, PushOutcome>>(missing.map((e) => [e.pdu.event_id, new Map()]));
        for (const { event, userId, outcome } of list) byEvent.get(event.pdu.event_id)!.set(userId, outcome);
        return byEvent;
      });
      for (const e of missing) {
        const one = evaluation.then((m) => m.get(e.pdu.event_id)!);
        one.catch(() => this.#evaluated.delete(e.pdu.event_id));
        this.#evaluated.set(e.pdu.event_id, one);
      }
      while (this.#evaluated.size > MAX_EVALUATED_EVENTS) this.#evaluated.delete(this.#evaluated.keys().next().value!);
    }
    const out = new Map<string, Map<string, PushOutcome>>();
    for (const e of events) {
      const one = this.#evaluated.get(e.pdu.event_id);
      if (one) out.set(e.pdu.event_id, await one);
    }
    return out;
  }

  async notifications(userId: string, from: string | undefined, limit: number, only: string | undefined) {
    let fromPos: number | undefined;
    if (from !== undefined) {
      if (!/^[0-9]{1,15}$/.test(from)) throw invalidParam('Invalid from token.');
      fromPos = Number(from);
    }
    const rows = await pushRepo.listNotifications(this.#db, userId, fromPos, limit, only === 'highlight');
    const stored = await eventsRepo.findEventsByIds(this.#db, rows.map((r) => r.event_id));
    const byId = new Map(stored.map((e) => [e.pdu.event_id, e]));
    const events = await toClientEvents(this.#db, rows.map((r) => byId.get(r.event_id)).filter((e) => e !== undefined), { userId }, { withRoomId: true });
    const clientById = new Map(events.map((e) => [e.event_id, e]));
    const notifications = rows
      .filter((r) => clientById.has(r.event_id))
      .map((r) => ({ actions: r.actions, event: clientById.get(r.event_id), read: r.read, room_id: r.room_id, ts: r.ts }));
    const body: Record<string, unknown> = { notifications };
    if (rows.length === limit) body.next_token = String(rows.at(-1)!.event_stream_pos);
    return body;
  }
}
