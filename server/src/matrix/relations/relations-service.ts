import type { Knex } from 'knex';
import { MatrixError, notFound } from '../../errors.ts';
import * as eventsRepo from '../../storage/events.ts';
import type { StoredEvent } from '../../storage/events.ts';
import * as relationsRepo from '../../storage/relations.ts';
import { formatPaginationToken, parsePaginationToken } from '../sync/tokens.ts';
import { toClientEvents, type ClientEvent, type Viewer } from '../timeline/client-format.ts';
import type { RoomAccess, TimelineReader } from '../timeline/read.ts';

interface Relates {
  rel_type?: unknown;
  event_id?: unknown;
}

function relatesTo(e: StoredEvent): { relType: string; target: string } | undefined {
  const r = e.pdu.content['m.relates_to'] as Relates | undefined;
  if (!r || typeof r.rel_type !== 'string' || typeof r.event_id !== 'string') return undefined;
  return { relType: r.rel_type, target: r.event_id };
}

export interface RelationsPage {
  chunk: ClientEvent[];
  next_batch?: string;
  prev_batch?: string;
  recursion_depth?: number;
}

/**
 * Relations between events (spec: "Relationships between events", threads, edits): the
 * /relations and /threads lists, and the aggregations bundled in `unsigned.m.relations` of
 * events served by /messages, /context, /event and these lists (the latest edit, the thread
 * summary, the references). Reactions are not bundled, as the current spec says.
 */
export class RelationsService {
  readonly #db: Knex;
  readonly #reader: TimelineReader;

  constructor(db: Knex, reader: TimelineReader) {
    this.#db = db;
    this.#reader = reader;
  }

  async relations(
    viewer: Viewer,
    roomId: string,
    eventId: string,
    req: { relType?: string | undefined; eventType?: string | undefined; from?: string | undefined; to?: string | undefined; limit: number; dir: 'b' | 'f'; recurse: boolean },
  ): Promise<RelationsPage> {
    const access = await this.#visibleAccess(viewer, roomId, eventId);
    const backwards = req.dir === 'b';
    let cursor = req.from !== undefined ? parsePaginationToken(req.from) : backwards ? access.upTo : 0;
    if (cursor > access.upTo) cursor = access.upTo;
    const to = req.to !== undefined ? parsePaginationToken(req.to) : undefined;
    const limit = Math.min(Math.max(req.limit, 1), 100);
    const chunk: StoredEvent[] = [];
    let exhausted = false;
    for (let round = 0; round < 10 && chunk.length < limit && !exhausted; round++) {
      const want = (limit - chunk.length) * 2;
      const batch = await relationsRepo.relationsOf(this.#db, roomId, eventId, {
        relType: req.relType,
        eventType: req.eventType,
        ...(backwards ? { upTo: cursor, after: to } : { after: cursor, upTo: Math.min(to ?? Infinity, access.upTo) }),
        limit: want,
        backwards,
      });
      if (batch.length < want) exhausted = true;
      for (const e of batch) {
        cursor = backwards ? e.streamPos - 1 : e.streamPos;
        if (!access.rules.canSee(e)) continue;
        chunk.push(e);
        if (chunk.length >= limit) break;
      }
    }
    const page: RelationsPage = { chunk: await this.#formatted(viewer, access, chunk) };
    if (!(exhausted && chunk.length < limit) && chunk.length > 0) page.next_batch = formatPaginationToken(cursor);
    if (req.from !== undefined) page.prev_batch = req.from;
    // Relations of relations are not followed: the depth actually used is 1.
    if (req.recurse) page.recursion_depth = 1;
    return page;
  }

  async threads(viewer: Viewer, roomId: string, req: { include: 'all' | 'participated'; from?: string | undefined; limit: number }): Promise<{ chunk: ClientEvent[]; next_batch?: string }> {
    const access = await this.#reader.access(viewer.userId, roomId);
    const limit = Math.min(Math.max(req.limit, 1), 100);
    const before = req.from !== undefined ? parsePaginationToken(req.from) : undefined;
    const roots = await relationsRepo.threadRoots(this.#db, roomId, {
      upTo: access.upTo,
      before,
      limit,
      participant: req.include === 'participated' ? viewer.userId : undefined,
    });
    const stored = new Map((await eventsRepo.findEventsByIds(this.#db, roots.map((r) => r.rootId))).map((e) => [e.pdu.event_id, e]));
    const visible = roots.map((r) => stored.get(r.rootId)).filter((e): e is StoredEvent => e !== undefined && e.pdu.room_id === roomId && access.rules.canSee(e));
    const out: { chunk: ClientEvent[]; next_batch?: string } = { chunk: await this.#formatted(viewer, access, visible) };
    if (roots.length === limit) out.next_batch = formatPaginationToken(roots.at(-1)!.lastPos);
    return out;
  }

  /** Adds `unsigned.m.relations` to events already formatted for this viewer. */
  async bundle(viewer: Viewer, roomId: string, events: ClientEvent[]): Promise<ClientEvent[]> {
    if (events.length === 0) return events;
    const access = await this.#reader.access(viewer.userId, roomId);
    return this.#bundleWith(viewer, access, events);
  }

  async #bundleWith(viewer: Viewer, access: RoomAccess, events: ClientEvent[]): Promise<ClientEvent[]> {
    const ids = events.filter((e) => e.state_key === undefined).map((e) => e.event_id);
    const related = (await relationsRepo.aggregatableRelations(this.#db, access.roomId, ids, access.upTo)).filter((e) => access.rules.canSee(e));
    if (related.length === 0) return events;
    const byId = new Map(events.map((e) => [e.event_id, e]));
    const edits = new Map<string, StoredEvent>();
    const threads = new Map<string, { latest: StoredEvent; count: number; participated: boolean }>();
    const references = new Map<string, string[]>();
    for (const r of related) {
      const rel = relatesTo(r)!;
      const original = byId.get(rel.target);
      if (!original) continue;
      if (rel.relType === 'm.replace') {
        // Only the original sender's edits of the same type count (spec: validity of replacements).
        if (r.pdu.sender === original.sender && r.pdu.type === original.type && r.pdu.state_key === undefined) edits.set(rel.target, r);
      } else if (rel.relType === 'm.thread') {
        const t = threads.get(rel.target) ?? { latest: r, count: 0, participated: original.sender === viewer.userId };
        t.latest = r;
        t.count += 1;
        t.participated ||= r.pdu.sender === viewer.userId;
        threads.set(rel.target, t);
      } else if (rel.relType === 'm.reference') {
        references.set(rel.target, [...(references.get(rel.target) ?? []), r.pdu.event_id]);
      }
    }
    const toFormat = [...edits.values(), ...[...threads.values()].map((t) => t.latest)];
    const formatted = new Map((await toClientEvents(this.#db, toFormat, viewer, { withRoomId: true })).map((e) => [e.event_id, e]));
    return events.map((e) => {
      const bundled: Record<string, unknown> = {};
      const edit = edits.get(e.event_id);
      if (edit) bundled['m.replace'] = formatted.get(edit.pdu.event_id);
      const thread = threads.get(e.event_id);
      if (thread) {
        bundled['m.thread'] = { latest_event: formatted.get(thread.latest.pdu.event_id), count: thread.count, current_user_participated: thread.participated };
      }
      const refs = references.get(e.event_id);
      if (refs) bundled['m.reference'] = { chunk: refs.map((event_id) => ({ event_id })) };
      if (Object.keys(bundled).length === 0) return e;
      return { ...e, unsigned: { ...e.unsigned, 'm.relations': bundled } };
    });
  }

  async #formatted(viewer: Viewer, access: RoomAccess, events: StoredEvent[]): Promise<ClientEvent[]> {
    return this.#bundleWith(viewer, access, await toClientEvents(this.#db, events, viewer, { withRoomId: true }));
  }

  /** The room as the viewer may read it, and the parent event visible in it (else 404). */
  async #visibleAccess(viewer: Viewer, roomId: string, eventId: string): Promise<RoomAccess> {
    const access = await this.#reader.access(viewer.userId, roomId).catch((err: unknown) => {
      throw err instanceof MatrixError && err.errcode === 'M_FORBIDDEN' ? notFound('Event not found.') : err;
    });
    const parent = await eventsRepo.findEvent(this.#db, eventId);
    if (!parent || parent.pdu.room_id !== roomId || parent.streamPos > access.upTo || !access.rules.canSee(parent)) throw notFound('Event not found.');
    return access;
  }
}
