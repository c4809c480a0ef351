import type { Knex } from 'knex';
import type { NotifyBus } from '../../notify/bus.ts';
import * as eventsRepo from '../../storage/events.ts';
import type { StoredEvent } from '../../storage/events.ts';
import * as membershipsRepo from '../../storage/memberships.ts';
import * as searchRepo from '../../storage/search.ts';
import type { SearchKey } from '../../storage/search.ts';
import type { RelationsService } from '../relations/relations-service.ts';
import { matchesEventFilter, roomAllowed, type RoomEventFilter } from '../sync/filters.ts';
import { formatPaginationToken } from '../sync/tokens.ts';
import { toClientEvents, type ClientEvent, type Viewer } from '../timeline/client-format.ts';
import { VisibilityRules } from '../timeline/visibility.ts';
import { MAX_LEXEMES, formatSearchToken, parseSearchToken, prefixQuery } from './search-query.ts';

/** Visible results a search can reach (count and pagination stop there). */
export const MAX_RESULTS = 1000;
/** Matches read to find them: invisible ones (history visibility) are dropped after the query. */
const MAX_MATCHES = 2 * MAX_RESULTS;
export const MAX_PAGE = 100;
export const MAX_CONTEXT = 50;

export interface RoomEventsCriteria {
  search_term: string;
  keys?: SearchKey[] | undefined;
  filter?: RoomEventFilter | undefined;
  order_by?: 'rank' | 'recent' | undefined;
  event_context?: { before_limit?: number | undefined; after_limit?: number | undefined; include_profile?: boolean | undefined } | undefined;
  include_state?: boolean | undefined;
  groupings?: { group_by?: Array<{ key?: 'room_id' | 'sender' | undefined }> | undefined } | undefined;
}

type Json = Record<string, unknown>;

/**
 * Server-side search (spec: "Server Side Search"), category room_events: PostgreSQL full-text
 * search over message bodies, room names and topics of the rooms the user is or was in, each
 * up to where they may read it (up to now when joined or invited, up to their leaving
 * otherwise), every match then judged by history visibility as /messages does.
 *
 * Pagination: the visible matches, in order, as of the position of the first page (the
 * snapshot in next_batch), so that new messages do not shift later pages.
 */
export class SearchService {
  readonly #db: Knex;
  readonly #bus: NotifyBus;
  readonly #relations: RelationsService;

  constructor(db: Knex, bus: NotifyBus, relations: RelationsService) {
    this.#db = db;
    this.#bus = bus;
    this.#relations = relations;
  }

  async roomEvents(viewer: Viewer, criteria: RoomEventsCriteria, nextBatch: string | undefined): Promise<Json> {
    const db = this.#db;
    const cursor = nextBatch !== undefined ? parseSearchToken(nextBatch) : { offset: 0, snapshot: this.#bus.position };
    // A snapshot from the future (a forged token, another node ahead) is clamped, never trusted.
    const snapshot = Math.min(cursor.snapshot, this.#bus.position);
    const filter = criteria.filter;
    const limit = Math.min(Math.max(filter?.limit ?? 10, 1), MAX_PAGE);
    const keys = criteria.keys && criteria.keys.length > 0 ? [...new Set(criteria.keys)] : (Object.keys(searchRepo.SEARCH_KEYS) as SearchKey[]);
    const order = criteria.order_by ?? 'rank';

    const highlights = (await searchRepo.lexemesOf(db, criteria.search_term)).slice(0, MAX_LEXEMES);
    const tsquery = prefixQuery(highlights);
    const empty = { search_categories: { room_events: { count: 0, highlights, results: [] } } };
    if (!tsquery) return empty;

    // The rooms to look in, each up to where the user may read it.
    const rows = (await membershipsRepo.roomsOfUser(db, viewer.userId, ['join', 'invite', 'leave', 'ban'])).filter((m) => roomAllowed(filter, m.room_id));
    if (rows.length === 0) return empty;
    const rooms = rows.map((m) => ({
      room_id: m.room_id,
      up_to: m.membership === 'join' || m.membership === 'invite' ? snapshot : Math.min(Number(m.stream_pos), snapshot),
    }));
    const upTo = new Map(rooms.map((r) => [r.room_id, r.up_to]));
    const rules = await VisibilityRules.loadMany(db, rooms.map((r) => r.room_id), viewer.userId);
    // The filter's type patterns, applied to the few types search looks at.
    const types = searchRepo.SEARCHABLE_TYPES.filter((t) => matchesEventFilter({ types: filter?.types, not_types: filter?.not_types }, t, ''));

    const matches = await searchRepo.searchEvents(db, {
      rooms,
      tsquery,
      keys,
      types,
      senders: filter?.senders,
      notSenders: filter?.not_senders,
      containsUrl: filter?.contains_url,
      order,
      limit: MAX_MATCHES,
    });
    const visible = matches
      .filter((m) => rules.get(m.room_id)!.canSee({ streamPos: m.stream_pos, pdu: { type: m.type, content: {} } } as unknown as StoredEvent))
      .slice(0, MAX_RESULTS);
    const page = visible.slice(cursor.offset, cursor.offset + limit);
    const byPos = new Map((await searchRepo.eventsAtPositions(db, page.map((m) => m.stream_pos))).map((e) => [e.streamPos, e]));
    const stored = page.map((m) => byPos.get(m.stream_pos)).filter((e): e is StoredEvent => e !== undefined);

    // Bundled aggregations (the latest edit, threads), room by room, as /messages gives them.
    const clientEvents = new Map<string, ClientEvent>();
    for (const roomId of new Set(stored.map((e) => e.pdu.room_id))) {
      const inRoom = stored.filter((e) => e.pdu.room_id === roomId);
      const bundled = await this.#relations.bundle(viewer, roomId, await toClientEvents(db, inRoom, viewer, { withRoomId: true }));
      for (const e of bundled) clientEvents.set(e.event_id, e);
    }

    const results: Json[] = [];
    for (const m of page) {
      const e = byPos.get(m.stream_pos);
      const result = e && clientEvents.get(e.pdu.event_id);
      if (!e || !result) continue;
      const entry: Json = { rank: m.rank, result };
      if (criteria.event_context) {
        entry.context = await this.#context(viewer, e, rules.get(m.room_id)!, upTo.get(m.room_id)!, criteria.event_context, filter);
      }
      results.push(entry);
    }

    const out: Json = { count: visible.length, highlights, results };
    const more = visible.length > cursor.offset + limit;
    if (more) out.next_batch = formatSearchToken({ offset: cursor.offset + limit, snapshot });
    if (criteria.include_state) {
      const state: Record<string, ClientEvent[]> = {};
      for (const roomId of new Set(stored.map((e) => e.pdu.room_id))) {
        state[roomId] = await toClientEvents(db, await eventsRepo.stateAt(db, roomId, upTo.get(roomId)!), viewer, { withRoomId: true });
      }
      out.state = state;
    }
    const groupKeys = (criteria.groupings?.group_by ?? []).map((g) => g.key).filter((k): k is 'room_id' | 'sender' => k !== undefined);
    if (groupKeys.length > 0) out.groups = groupsOf(groupKeys, stored, more ? (out.next_batch as string) : undefined);
    return { search_categories: { room_events: out } };
  }

  async #context(
    viewer: Viewer,
    e: StoredEvent,
    rules: VisibilityRules,
    upTo: number,
    want: NonNullable<RoomEventsCriteria['event_context']>,
    filter: RoomEventFilter | undefined,
  ): Promise<Json> {
    const db = this.#db;
    const roomId = e.pdu.room_id;
    const common = { types: filter?.types, notTypes: filter?.not_types, senders: filter?.senders, notSenders: filter?.not_senders };
    const beforeLimit = Math.min(want.before_limit ?? 5, MAX_CONTEXT);
    const afterLimit = Math.min(want.after_limit ?? 5, MAX_CONTEXT);
    const before = beforeLimit === 0 ? [] : rules.filter(await eventsRepo.roomEventsBetween(db, roomId, { upTo: e.streamPos - 1, limit: beforeLimit, backwards: true, ...common }));
    const after = afterLimit === 0 ? [] : rules.filter(await eventsRepo.roomEventsBetween(db, roomId, { after: e.streamPos, upTo, limit: afterLimit, backwards: false, ...common }));
    const context: Json = {
      start: formatPaginationToken((before.at(-1)?.streamPos ?? e.streamPos) - 1),
      end: formatPaginationToken(after.at(-1)?.streamPos ?? e.streamPos),
      events_before: await toClientEvents(db, before, viewer, { withRoomId: true }),
      events_after: await toClientEvents(db, after, viewer, { withRoomId: true }),
    };
    if (want.include_profile) {
      // The sender's profile as of the event: their member event before it.
      const history = await eventsRepo.membershipHistory(db, roomId, e.pdu.sender);
      const member = history.filter((m) => m.streamPos < e.streamPos).at(-1);
      const profile: Json = {};
      if (typeof member?.pdu.content.displayname === 'string') profile.displayname = member.pdu.content.displayname;
      if (typeof member?.pdu.content.avatar_url === 'string' && member.pdu.content.avatar_url.startsWith('mxc://')) profile.avatar_url = member.pdu.content.avatar_url;
      context.profile_info = { [e.pdu.sender]: profile };
    }
    return context;
  }
}

/** The page's results partitioned by room or sender, groups in the order of their first result. */
function groupsOf(keys: Array<'room_id' | 'sender'>, events: StoredEvent[], nextBatch: string | undefined): Json {
  const out: Record<string, Record<string, Json>> = {};
  for (const key of new Set(keys)) {
    const groups: Record<string, { results: string[]; order: number; next_batch?: string }> = {};
    for (const e of events) {
      const value = key === 'room_id' ? e.pdu.room_id : e.pdu.sender;
      const g = (groups[value] ??= { results: [], order: Object.keys(groups).length + 1, ...(nextBatch ? { next_batch: nextBatch } : {}) });
      g.results.push(e.pdu.event_id);
    }
    out[key] = groups;
  }
  return out;
}
