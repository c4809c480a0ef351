import type { Knex } from 'knex';
import { MatrixError, forbidden, notFound } from '../../errors.ts';
import * as eventsRepo from '../../storage/events.ts';
import type { StoredEvent } from '../../storage/events.ts';
import * as roomsRepo from '../../storage/rooms.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import type { RoomEventFilter } from '../sync/filters.ts';
import { formatPaginationToken, parsePaginationToken } from '../sync/tokens.ts';
import { toClientEvents, type ClientEvent, type Viewer } from './client-format.ts';
import { VisibilityRules } from './visibility.ts';

/** What a user may read of a room: which events, and up to which position. */
export interface RoomAccess {
  roomId: string;
  rules: VisibilityRules;
  /** Joined users see up to now; a user who left sees up to their leaving. */
  upTo: number;
}

export interface MessagesRequest {
  from?: string | undefined;
  to?: string | undefined;
  dir: 'b' | 'f';
  limit: number;
  filter?: RoomEventFilter | undefined;
}

/** Read paths of a room's timeline: one event, /messages, /context. History visibility applies to all. */
export class TimelineReader {
  readonly #db: Knex;
  readonly #bus: NotifyBus;

  constructor(db: Knex, bus: NotifyBus) {
    this.#db = db;
    this.#bus = bus;
  }

  async access(userId: string, roomId: string): Promise<RoomAccess> {
    const room = await roomsRepo.findRoom(this.#db, roomId);
    if (!room) throw forbidden('You are not allowed to read this room.');
    const rules = await VisibilityRules.load(this.#db, roomId, userId);
    const membership = rules.currentMembership;
    let upTo = this.#bus.position;
    if (membership !== 'join') {
      const worldReadable = await this.#isWorldReadable(roomId);
      if (!worldReadable) {
        if (rules.membershipPos === undefined) throw forbidden('You are not in this room.');
        // Someone who left or was banned keeps reading up to that moment (spec: /messages, /state).
        if (membership === 'leave' || membership === 'ban') upTo = rules.membershipPos;
        else if (membership !== 'invite') throw forbidden('You are not in this room.');
      }
    }
    return { roomId, rules, upTo };
  }

  async event(viewer: Viewer, roomId: string, eventId: string): Promise<ClientEvent> {
    // Spec: 404 also when the user may not read the room; no telling rooms apart.
    const access = await this.access(viewer.userId, roomId).catch((err: unknown) => {
      throw err instanceof MatrixError && err.errcode === 'M_FORBIDDEN' ? notFound('Event not found.') : err;
    });
    const e = await eventsRepo.findEvent(this.#db, eventId);
    if (!e || e.pdu.room_id !== roomId || e.streamPos > access.upTo || !access.rules.canSee(e)) {
      throw notFound('Event not found.');
    }
    const [out] = await toClientEvents(this.#db, [e], viewer, { withRoomId: true });
    return out!;
  }

  async messages(viewer: Viewer, roomId: string, req: MessagesRequest): Promise<{ chunk: ClientEvent[]; start: string; end?: string; state?: ClientEvent[] }> {
    const access = await this.access(viewer.userId, roomId);
    const backwards = req.dir === 'b';
    let from = req.from !== undefined ? parsePaginationToken(req.from) : backwards ? access.upTo : 0;
    const to = req.to !== undefined ? parsePaginationToken(req.to) : undefined;
    if (from > access.upTo) from = access.upTo;
    const limit = Math.min(Math.max(req.limit, 0), 1000);
    const chunk: StoredEvent[] = [];
    let cursor = from;
    let exhausted = false;
    // Invisible events are skipped, so fetch in rounds until the page is full.
    for (let round = 0; round < 20 && chunk.length < limit && !exhausted; round++) {
      const want = Math.max(limit - chunk.length, 1) * 2;
      const batch = await eventsRepo.roomEventsBetween(this.#db, roomId, {
        ...(backwards ? { upTo: cursor, after: to } : { after: cursor, upTo: Math.min(to ?? Infinity, access.upTo) }),
        limit: want,
        backwards,
        types: req.filter?.types,
        notTypes: req.filter?.not_types,
        senders: req.filter?.senders,
        notSenders: req.filter?.not_senders,
      });
      if (batch.length < want) exhausted = true;
      for (const e of batch) {
        cursor = backwards ? e.streamPos - 1 : e.streamPos;
        if (!access.rules.canSee(e)) continue;
        chunk.push(e);
        if (chunk.length >= limit) break;
      }
    }
    const events = await toClientEvents(this.#db, chunk, viewer, { withRoomId: true });
    const out: { chunk: ClientEvent[]; start: string; end?: string; state?: ClientEvent[] } = {
      chunk: events,
      start: formatPaginationToken(from),
    };
    const done = exhausted && chunk.length < limit;
    if (!done && chunk.length > 0) out.end = formatPaginationToken(cursor);
    if (req.filter?.lazy_load_members && chunk.length > 0) {
      out.state = await this.#membersFor(viewer, roomId, chunk);
    }
    return out;
  }

  async context(viewer: Viewer, roomId: string, eventId: string, limit: number, filter?: RoomEventFilter): Promise<Record<string, unknown>> {
    const access = await this.access(viewer.userId, roomId);
    const target = await eventsRepo.findEvent(this.#db, eventId);
    if (!target || target.pdu.room_id !== roomId || target.streamPos > access.upTo || !access.rules.canSee(target)) {
      throw notFound('Event not found.');
    }
    const half = Math.min(Math.max(limit, 0), 100);
    const beforeCount = Math.floor(half / 2);
    const afterCount = half - beforeCount;
    const common = { types: filter?.types, notTypes: filter?.not_types, senders: filter?.senders, notSenders: filter?.not_senders };
    const before = access.rules.filter(
      await eventsRepo.roomEventsBetween(this.#db, roomId, { upTo: target.streamPos - 1, limit: beforeCount, backwards: true, ...common }),
    );
    const after = access.rules.filter(
      await eventsRepo.roomEventsBetween(this.#db, roomId, { after: target.streamPos, upTo: access.upTo, limit: afterCount, backwards: false, ...common }),
    );
    const lastAfter = after.at(-1)?.streamPos ?? target.streamPos;
    const firstBefore = before.at(-1)?.streamPos ?? target.streamPos;
    const state = await eventsRepo.stateAt(this.#db, roomId, lastAfter);
    const visibleState = filter?.lazy_load_members
      ? state.filter((s) => s.pdu.type !== 'm.room.member' || [target, ...before, ...after].some((e) => e.pdu.sender === s.pdu.state_key))
      : state;
    const [event] = await toClientEvents(this.#db, [target], viewer, { withRoomId: true });
    return {
      event,
      events_before: await toClientEvents(this.#db, before, viewer, { withRoomId: true }),
      events_after: await toClientEvents(this.#db, after, viewer, { withRoomId: true }),
      start: formatPaginationToken(firstBefore - 1),
      end: formatPaginationToken(lastAfter),
      state: await toClientEvents(this.#db, visibleState, viewer, { withRoomId: true }),
    };
  }

  /** The room state as the user may see it: current when joined, as of leaving otherwise. */
  async state(viewer: Viewer, roomId: string): Promise<ClientEvent[]> {
    const access = await this.access(viewer.userId, roomId);
    const state = await eventsRepo.stateAt(this.#db, roomId, access.upTo);
    return toClientEvents(this.#db, state, viewer, { withRoomId: true });
  }

  async stateEvent(viewer: Viewer, roomId: string, type: string, stateKey: string): Promise<ClientEvent> {
    const state = await this.state(viewer, roomId);
    const e = state.find((s) => s.type === type && s.state_key === stateKey);
    if (!e) throw notFound('Event not found.');
    return e;
  }

  async members(viewer: Viewer, roomId: string, opts: { at?: string | undefined; membership?: string | undefined; not_membership?: string | undefined }): Promise<ClientEvent[]> {
    const access = await this.access(viewer.userId, roomId);
    let at = access.upTo;
    if (opts.at) at = Math.min(at, parsePaginationToken(opts.at));
    const state = await eventsRepo.stateAt(this.#db, roomId, at);
    const members = state.filter(
      (s) =>
        s.pdu.type === 'm.room.member' &&
        (!opts.membership || s.pdu.content.membership === opts.membership) &&
        (!opts.not_membership || s.pdu.content.membership !== opts.not_membership),
    );
    return toClientEvents(this.#db, members, viewer, { withRoomId: true });
  }

  async #membersFor(viewer: Viewer, roomId: string, events: StoredEvent[]): Promise<ClientEvent[]> {
    const senders = new Set(events.map((e) => e.pdu.sender));
    const state = await eventsRepo.stateAt(this.#db, roomId, Math.max(...events.map((e) => e.streamPos)));
    const members = state.filter((s) => s.pdu.type === 'm.room.member' && senders.has(s.pdu.state_key ?? ''));
    return toClientEvents(this.#db, members, viewer, { withRoomId: true });
  }

  async #isWorldReadable(roomId: string): Promise<boolean> {
    const e = await eventsRepo.findStateEvent(this.#db, roomId, 'm.room.history_visibility', '');
    return e?.pdu.content.history_visibility === 'world_readable';
  }
}
