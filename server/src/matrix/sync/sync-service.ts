import type { Knex } from 'knex';
import type { NotifyBus } from '../../notify/bus.ts';
import * as accountDataRepo from '../../storage/account-data.ts';
import * as eventsRepo from '../../storage/events.ts';
import * as membershipsRepo from '../../storage/memberships.ts';
import type { RoomCounts } from '../../storage/push.ts';
import * as receiptsRepo from '../../storage/receipts.ts';
import * as syncQueries from '../../storage/sync-queries.ts';
import { e2eeSyncSection } from '../keys/sync-section.ts';
import { strippedState, type Viewer } from '../timeline/client-format.ts';
import type { PresenceService } from '../presence/presence.ts';
import type { TypingService } from '../typing/typing-service.ts';
import { matchesEventFilter, roomAllowed, type Filter } from './filters.ts';
import { roomTimeline, timelineLimit } from './joined-room.ts';
import type { RecentEvents } from './recent-events.ts';
import { roomSummaries } from './summary.ts';
import { formatSyncToken, parseSyncToken, type SyncToken } from './tokens.ts';

export interface SyncRequest {
  since?: string | undefined;
  timeoutMs: number;
  filter: Filter;
  fullState: boolean;
  signal?: AbortSignal;
}

type Json = Record<string, unknown>;

const INVITE_STATE_TYPES = new Set(['m.room.create', 'm.room.join_rules', 'm.room.name', 'm.room.avatar', 'm.room.canonical_alias', 'm.room.encryption', 'm.room.topic']);

export interface SyncDeps {
  db: Knex;
  bus: NotifyBus;
  typing: TypingService;
  /** Presence of the users sharing a room with the syncing user; none when absent. */
  presence?: PresenceService;
  /** Notification and highlight counts per room, after the given position unless read further. */
  counts: (userId: string, after: Map<string, number>) => Promise<Map<string, { notification_count: number; highlight_count: number }>>;
  /**
   * The rooms' latest events in memory: incremental syncs take the events of their window from
   * here by position (one read of the database per node for those not held). Without it, every
   * sync reads its events with its rooms query.
   */
  recent?: RecentEvents;
  /** Notification counts from the rows the rooms query read (PushService.countsWithTail). */
  countsWithTail?: (userId: string, rooms: Map<string, RoomCounts>, tail: eventsRepo.StoredEvent[]) => Promise<Map<string, { notification_count: number; highlight_count: number }>>;
}

/** Users whose joined rooms are remembered for long-polls (the oldest are forgotten first). */
const MAX_REMEMBERED_USERS = 50_000;

export class SyncService {
  readonly #deps: SyncDeps;
  /**
   * Per user, the rooms they were joined to as of a stream position, from their last sync. A
   * long-poll whose token is the current one (a client asking again right after an answer) has
   * an empty window: it waits on these rooms without reading anything first. Any membership
   * change takes a new position, which makes the entry stale. This relies on the rule that
   * every change a sync must see takes a stream position (or the typing serial) and wakes the
   * bus: a section fed otherwise would wait for the next wake-up or the timeout.
   */
  readonly #joinedAt = new Map<string, { pos: number; rooms: Set<string> }>();

  constructor(deps: SyncDeps) {
    this.#deps = deps;
  }

  async sync(viewer: Viewer, req: SyncRequest): Promise<Json> {
    const { bus, typing } = this.#deps;
    const since = req.since !== undefined ? parseSyncToken(req.since) : undefined;
    const deadline = Date.now() + Math.min(Math.max(req.timeoutMs, 0), 120_000);
    let waitFirst = since !== undefined && !req.fullState;
    for (;;) {
      const tick = bus.tick;
      const now: SyncToken = { pos: bus.position, typing: typing.serial };
      if (waitFirst) {
        waitFirst = false;
        const known = this.#joinedAt.get(viewer.userId);
        const remaining = deadline - Date.now();
        // The client's token is exactly the one it would get now: nothing is in the window.
        if (known && known.pos === now.pos && req.since === formatSyncToken(now) && remaining > 0) {
          if (await bus.wait(viewer.userId, known.rooms, tick, remaining, req.signal)) continue;
          if (req.signal?.aborted) return {};
          // Timed out: answer as usual (the computation below, over the empty window).
        }
      }
      // A token from the future (another node, or a restored database) is clamped, never trusted.
      const from = since ? { pos: Math.min(since.pos, now.pos), typing: Math.min(since.typing, now.typing) } : undefined;
      const result = await this.#compute(viewer, from, now, req);
      this.#remember(viewer.userId, now.pos, result.watchRooms);
      const remaining = deadline - Date.now();
      if (!from || !result.empty || req.fullState || remaining <= 0) return result.body;
      const woken = await bus.wait(viewer.userId, result.watchRooms, tick, remaining, req.signal);
      if (!woken) return result.body;
    }
  }

  #remember(userId: string, pos: number, rooms: Set<string>): void {
    this.#joinedAt.delete(userId);
    this.#joinedAt.set(userId, { pos, rooms });
    if (this.#joinedAt.size > MAX_REMEMBERED_USERS) this.#joinedAt.delete(this.#joinedAt.keys().next().value!);
  }

  async #compute(viewer: Viewer, since: SyncToken | undefined, now: SyncToken, req: SyncRequest): Promise<{ body: Json; empty: boolean; watchRooms: Set<string> }> {
    const { db, typing } = this.#deps;
    const filter = req.filter;
    const userId = viewer.userId;
    const recentEvents = since !== undefined && !req.fullState ? this.#deps.recent : undefined;
    // One query tells the rooms, which of them changed, the positions of their latest events
    // (or the events, when they are not taken from memory) and the device's encryption flags;
    // the rest is read only where needed.
    const overview = await syncQueries.roomsOfUserWithChanges(db, {
      userId,
      deviceId: viewer.deviceId ?? '',
      memberships: ['join', 'invite', 'leave', 'ban', 'knock'],
      after: since?.pos ?? -1,
      upTo: now.pos,
      recentLimit: timelineLimit(filter) + 1,
      withEvents: recentEvents === undefined,
    });
    const memberships = overview.rooms;
    if (recentEvents) {
      const wanted = new Map<string, number[]>();
      for (const m of memberships) if (m.positions && m.positions.length > 0) wanted.set(m.room_id, m.positions);
      if (wanted.size > 0) {
        const resolved = await recentEvents.resolve(wanted);
        for (const m of memberships) if (wanted.has(m.room_id)) m.recent = resolved.get(m.room_id);
      }
    }
    const joinedIds = memberships.filter((m) => m.membership === 'join').map((m) => m.room_id);
    const watchRooms = new Set(joinedIds);
    const roomFilter = filter.room;

    const accountData = overview.accountDataChanged ? await accountDataRepo.accountDataBetween(db, userId, since?.pos ?? -1, now.pos) : [];
    const roomAccountData = new Map<string, Json[]>();
    const globalAccountData: Json[] = [];
    for (const a of accountData) {
      const ev = { type: a.type, content: a.content };
      if (a.room_id === '') {
        if (matchesEventFilter(filter.account_data, a.type, userId)) globalAccountData.push(ev);
      } else if (matchesEventFilter(roomFilter?.account_data, a.type, userId)) {
        roomAccountData.set(a.room_id, [...(roomAccountData.get(a.room_id) ?? []), ev]);
      }
    }

    const withReceipts = memberships.filter((m) => m.has_receipts).map((m) => m.room_id);
    const receipts = await receiptsRepo.receiptsBetween(db, withReceipts, since?.pos ?? -1, now.pos);
    const receiptsByRoom = new Map<string, receiptsRepo.ReceiptRow[]>();
    for (const r of receipts) {
      if (r.receipt_type === 'm.read.private' && r.user_id !== userId) continue;
      receiptsByRoom.set(r.room_id, [...(receiptsByRoom.get(r.room_id) ?? []), r]);
    }
    const withEvents = since ? new Set(memberships.filter((m) => m.has_events).map((m) => m.room_id)) : new Set(joinedIds);

    const join: Record<string, Json> = {};
    const invite: Record<string, Json> = {};
    const leave: Record<string, Json> = {};
    const joinedPos = new Map<string, number>();
    // Summaries go with rooms new to the client and rooms whose membership may have changed;
    // otherwise the client keeps the last one (the spec lets unchanged fields be left out).
    const needSummary = new Set<string>();

    for (const m of memberships) {
      if (!roomAllowed(roomFilter, m.room_id)) continue;
      const changedMembership = since === undefined || m.stream_pos > since.pos;
      if (m.membership === 'join') {
        const typingUsers = typing.typingIn(m.room_id, since?.typing);
        const ephemeral: Json[] = [];
        if (typingUsers && (since !== undefined || typingUsers.length > 0)) {
          ephemeral.push({ type: 'm.typing', content: { user_ids: typingUsers } });
        }
        const roomReceipts = receiptsByRoom.get(m.room_id);
        if (roomReceipts) ephemeral.push(receiptEvent(roomReceipts));
        const filteredEphemeral = ephemeral.filter((e) => matchesEventFilter(roomFilter?.ephemeral, String(e.type), userId));
        const hasTimeline = withEvents.has(m.room_id) || req.fullState;
        const data = roomAccountData.get(m.room_id);
        if (!hasTimeline && filteredEphemeral.length === 0 && !data) continue;
        // The user was not joined at `since`: the room is new to this client, give it whole.
        const newlyJoined = since !== undefined && changedMembership && !(await wasJoinedAt(db, m.room_id, userId, since.pos));
        const section = hasTimeline || newlyJoined
          ? await roomTimeline(db, viewer, {
              roomId: m.room_id,
              since: newlyJoined ? undefined : since?.pos,
              upTo: now.pos,
              typingSerial: now.typing,
              fullState: req.fullState,
              joinedThroughout: since !== undefined && !changedMembership,
              // The overview fetched the window (since, now] already.
              prefetched: newlyJoined ? undefined : m.recent,
            }, filter)
          : undefined;
        if (since === undefined || newlyJoined || section?.membersChanged) needSummary.add(m.room_id);
        join[m.room_id] = {
          timeline: section?.timeline ?? { events: [], limited: false, prev_batch: formatSyncToken(now) },
          state: section?.state ?? { events: [] },
          ephemeral: { events: filteredEphemeral },
          account_data: { events: data ?? [] },
        };
        joinedPos.set(m.room_id, m.stream_pos);
      } else if (m.membership === 'invite' && changedMembership) {
        const state = await eventsRepo.stateAt(db, m.room_id, m.stream_pos);
        const inviter = inviterOf(state, userId);
        const events = state
          .filter((e) => INVITE_STATE_TYPES.has(e.pdu.type) || (e.pdu.type === 'm.room.member' && (e.pdu.state_key === userId || e.pdu.state_key === inviter)))
          .map(strippedState);
        invite[m.room_id] = { invite_state: { events } };
      } else if ((m.membership === 'leave' || m.membership === 'ban') && changedMembership) {
        if (since === undefined && !roomFilter?.include_leave) continue;
        const section = await roomTimeline(db, viewer, { roomId: m.room_id, since: since?.pos, upTo: m.stream_pos, typingSerial: now.typing, fullState: req.fullState }, filter);
        leave[m.room_id] = {
          timeline: section.timeline,
          state: section.state,
          account_data: { events: roomAccountData.get(m.room_id) ?? [] },
        };
      }
    }

    // Notification counts for the rooms being sent: push rule outcomes after the read receipt.
    const roomsSent = Object.keys(join);
    if (roomsSent.length > 0) {
      const counts = await this.#counts(userId, roomsSent, memberships, joinedPos, recentEvents);
      const summaryRooms = roomsSent.filter((r) => needSummary.has(r));
      const summaries = summaryRooms.length > 0 ? await roomSummaries(db, userId, summaryRooms) : new Map<string, Record<string, unknown>>();
      for (const r of roomsSent) {
        join[r]!.unread_notifications = counts.get(r) ?? { notification_count: 0, highlight_count: 0 };
        join[r]!.summary = summaries.get(r) ?? {};
      }
    }

    const presence = await this.#presence(userId, since, filter);
    const roomsEmpty =
      roomsSent.length === 0 && Object.keys(invite).length === 0 && Object.keys(leave).length === 0 && globalAccountData.length === 0 && presence.length === 0;
    const e2ee = await e2eeSyncSection(db, userId, viewer.deviceId ?? '', since?.pos, now.pos, overview.e2ee);
    const empty = roomsEmpty && e2ee.empty;
    return {
      empty,
      watchRooms,
      body: {
        next_batch: formatSyncToken(now),
        rooms: { join, invite, leave, knock: {} },
        account_data: { events: globalAccountData },
        presence: { events: presence },
        ...e2ee.fields,
      },
    };
  }

  /**
   * m.presence events of the users who changed presence since the token (everyone known on an
   * initial sync) and share a joined room with the user, the user included. Only changes are
   * sent, so an idle server costs nothing here.
   */
  async #presence(userId: string, since: SyncToken | undefined, filter: Filter): Promise<Json[]> {
    const store = this.#deps.presence;
    if (!store || (filter.presence?.limit === 0)) return [];
    const changed = store.changedSince(since?.typing).filter((p) => matchesEventFilter(filter.presence, 'm.presence', p.userId));
    if (changed.length === 0) return [];
    const others = changed.filter((p) => p.userId !== userId).map((p) => p.userId);
    const sharing = await membershipsRepo.usersSharingRoomWith(this.#deps.db, userId, others);
    const events = changed
      .filter((p) => p.userId === userId || sharing.has(p.userId))
      .map((p) => ({ type: 'm.presence', sender: p.userId, content: p.content }));
    return filter.presence?.limit !== undefined ? events.slice(0, filter.presence.limit) : events;
  }

  /**
   * Notification counts of the rooms sent: from the rows of the rooms query where it read them
   * (rooms with events or receipts in the window), the others as before.
   */
  async #counts(
    userId: string,
    roomsSent: string[],
    memberships: syncQueries.RoomWithChanges[],
    joinedPos: Map<string, number>,
    recentEvents: RecentEvents | undefined,
  ): Promise<Map<string, { notification_count: number; highlight_count: number }>> {
    const { countsWithTail, counts, db } = this.#deps;
    const byRoom = new Map(memberships.map((m) => [m.room_id, m]));
    const read = new Map<string, RoomCounts>();
    const tail = new Map<string, number[]>();
    const rest: string[] = [];
    for (const r of roomsSent) {
      const c = byRoom.get(r)?.counts;
      if (countsWithTail && c) {
        read.set(r, c);
        if (c.tail.length > 0) tail.set(r, c.tail);
      } else {
        rest.push(r);
      }
    }
    const out = new Map<string, { notification_count: number; highlight_count: number }>();
    if (read.size > 0) {
      const events = recentEvents
        ? [...(await recentEvents.resolve(tail)).values()].flat()
        : await eventsRepo.findEventsAtPositions(db, [...tail.values()].flat());
      for (const [r, c] of await countsWithTail!(userId, read, events)) out.set(r, c);
    }
    if (rest.length > 0) for (const [r, c] of await counts(userId, new Map(rest.map((r) => [r, joinedPos.get(r) ?? 0])))) out.set(r, c);
    return out;
  }
}

async function wasJoinedAt(db: Knex, roomId: string, userId: string, pos: number): Promise<boolean> {
  const history = await eventsRepo.membershipHistory(db, roomId, userId);
  let membership: unknown = 'leave';
  for (const e of history) {
    if (e.streamPos > pos) break;
    membership = e.pdu.content.membership;
  }
  return membership === 'join';
}

function inviterOf(state: eventsRepo.StoredEvent[], userId: string): string | undefined {
  return state.find((e) => e.pdu.type === 'm.room.member' && e.pdu.state_key === userId)?.pdu.sender;
}

function receiptEvent(rows: receiptsRepo.ReceiptRow[]): Json {
  const content: Record<string, Record<string, Record<string, Json>>> = {};
  for (const r of rows) {
    const byType = (content[r.event_id] ??= {});
    const byUser = (byType[r.receipt_type] ??= {});
    byUser[r.user_id] = r.thread_id ? { ts: r.ts, thread_id: r.thread_id } : { ts: r.ts };
  }
  return { type: 'm.receipt', content };
}
