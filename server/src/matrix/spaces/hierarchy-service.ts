import type { Knex } from 'knex';
import { forbidden } from '../../errors.ts';
import type { Membership } from '../../storage/memberships.ts';
import { joinedRoomCounts } from '../../storage/memberships.ts';
import type { StoredEvent } from '../../storage/events.ts';
import { hierarchyStates, membershipsByRoom } from '../../storage/spaces.ts';
import type { Pdu } from '../events/pdu.ts';
import { spaceChildren, type SpaceChild } from './children.ts';
import { formatHierarchyToken, parseHierarchyToken, type WalkParams } from './hierarchy-token.ts';
import { roomSummary, type HierarchyRoom } from './room-summary.ts';

/** Defaults and caps the spec asks servers to impose (resource exhaustion). */
export const HIERARCHY_LIMITS = {
  defaultLimit: 50,
  maxLimit: 100,
  defaultMaxDepth: 20,
  maxMaxDepth: 50,
  /** Rooms one request may walk, pages before it included: a huge or hostile tree stops here. */
  maxWalk: 1000,
};

export interface HierarchyRequest {
  suggestedOnly: boolean;
  limit: number;
  maxDepth: number;
  from: string | undefined;
}

export interface HierarchyPage {
  rooms: HierarchyRoom[];
  next_batch?: string;
}

interface Walked {
  roomId: string;
  state: Pdu[];
  children: SpaceChild[];
}

function content(state: Pdu[], type: string): Record<string, unknown> {
  return state.find((e) => e.type === type && e.state_key === '')?.content ?? {};
}

/**
 * The spec's list of rooms a hierarchy may show: joined or invited; joinable (public, or
 * restricted with the user in an allowed room); knockable; or world-readable. A ban hides the
 * room whatever its rules.
 */
function mayView(state: Pdu[], userRooms: Map<string, Membership>, roomId: string): boolean {
  const own = userRooms.get(roomId);
  if (own === 'ban') return false;
  if (own === 'join' || own === 'invite') return true;
  const rules = content(state, 'm.room.join_rules');
  const rule = rules.join_rule;
  if (rule === 'public' || rule === 'knock' || rule === 'knock_restricted') return true;
  if (rule === 'restricted' && Array.isArray(rules.allow)) {
    for (const a of rules.allow as unknown[]) {
      const allow = a as { type?: unknown; room_id?: unknown } | null;
      if (allow?.type === 'm.room_membership' && typeof allow.room_id === 'string' && userRooms.get(allow.room_id) === 'join') return true;
    }
  }
  return content(state, 'm.room.history_visibility').history_visibility === 'world_readable';
}

/**
 * GET /rooms/{roomId}/hierarchy over local rooms (no federation: a child this server does not
 * hold is skipped). Pre-order depth-first walk from the root: a space is listed, then each of
 * its children in the spec's order, a child space's own children before its next sibling.
 * Each room is walked once, which breaks loops in the space graph.
 */
export class HierarchyService {
  readonly #db: Knex;

  constructor(db: Knex) {
    this.#db = db;
  }

  async hierarchy(userId: string, root: string, req: HierarchyRequest): Promise<HierarchyPage> {
    const params: WalkParams = { root, maxDepth: req.maxDepth, suggestedOnly: req.suggestedOnly };
    const skip = req.from === undefined ? 0 : parseHierarchyToken(req.from, params, HIERARCHY_LIMITS.maxWalk);
    const userRooms = await membershipsByRoom(this.#db, userId);
    const walked: Walked[] = [];
    let more = false;
    let seen = 0;
    for await (const room of this.#walk(params, userRooms)) {
      if (seen++ < skip) continue;
      if (walked.length === req.limit) {
        more = true;
        break;
      }
      walked.push(room);
    }
    const counts = await joinedRoomCounts(this.#db, walked.map((w) => w.roomId));
    const page: HierarchyPage = { rooms: walked.map((w) => roomSummary(w.roomId, w.state, counts.get(w.roomId)?.joined ?? 0, w.children)) };
    if (more) page.next_batch = formatHierarchyToken(params, skip + walked.length);
    return page;
  }

  async *#walk(p: WalkParams, userRooms: Map<string, Membership>): AsyncGenerator<Walked> {
    const stack: Array<{ roomId: string; depth: number }> = [{ roomId: p.root, depth: 0 }];
    const visited = new Set<string>();
    // The children of a space are read together when the space is walked: one query per
    // space rather than one per room.
    const states = new Map<string, StoredEvent[] | undefined>();
    const load = async (ids: string[]) => {
      const wanted = ids.filter((id) => !states.has(id) && !visited.has(id));
      const found = await hierarchyStates(this.#db, wanted);
      for (const id of wanted) states.set(id, found.get(id));
    };
    while (stack.length > 0 && visited.size < HIERARCHY_LIMITS.maxWalk) {
      const { roomId, depth } = stack.pop()!;
      if (visited.has(roomId)) continue;
      if (!states.has(roomId)) await load([roomId]);
      visited.add(roomId);
      const state = (states.get(roomId) ?? []).map((e) => e.pdu);
      states.delete(roomId);
      // An unknown root and a root the user may not see answer alike: no probing for rooms.
      const known = state.some((e) => e.type === 'm.room.create');
      if (!known || !mayView(state, userRooms, roomId)) {
        if (depth === 0) throw forbidden('You are not allowed to view this room.');
        continue;
      }
      const isSpace = content(state, 'm.room.create').type === 'm.space';
      const children = isSpace ? spaceChildren(state.filter((e) => e.type === 'm.space.child')) : [];
      yield { roomId, state, children };
      if (depth >= p.maxDepth) continue;
      const next = p.suggestedOnly ? children.filter((c) => c.suggested) : children;
      // At most the rooms this request may still walk are read ahead.
      await load(next.slice(0, HIERARCHY_LIMITS.maxWalk - visited.size).map((c) => c.roomId));
      for (let i = next.length - 1; i >= 0; i--) stack.push({ roomId: next[i]!.roomId, depth: depth + 1 });
    }
  }
}
