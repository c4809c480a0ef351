import type { Knex } from 'knex';
import * as eventsRepo from '../../storage/events.ts';
import type { StoredEvent } from '../../storage/events.ts';

/**
 * History visibility (spec, "Room history visibility"), applied on every read path:
 * an event is visible to a user when, as of that event,
 * - the room was world_readable, or
 * - the user was joined, or
 * - the room was shared and the user joined at some point at or after it, or
 * - the room was invited and the user was invited (or joined).
 * The user's own membership events are judged by the membership they set, and their own
 * leave, kick or ban is always visible to them after a join or an invite.
 */
export class VisibilityRules {
  readonly #memberships: StoredEvent[];
  readonly #visibility: StoredEvent[];
  readonly #userId: string;

  constructor(userId: string, memberships: StoredEvent[], visibility: StoredEvent[]) {
    this.#userId = userId;
    this.#memberships = memberships;
    this.#visibility = visibility;
  }

  static async load(db: Knex, roomId: string, userId: string): Promise<VisibilityRules> {
    const [memberships, visibility] = await Promise.all([
      eventsRepo.membershipHistory(db, roomId, userId),
      eventsRepo.visibilityHistory(db, roomId),
    ]);
    return new VisibilityRules(userId, memberships, visibility);
  }

  /** The rules of one user in several rooms, in two queries (search looks at all their rooms). */
  static async loadMany(db: Knex, roomIds: string[], userId: string): Promise<Map<string, VisibilityRules>> {
    const [memberships, visibility] = await Promise.all([
      eventsRepo.membershipHistories(db, roomIds, userId),
      eventsRepo.visibilityHistories(db, roomIds),
    ]);
    return new Map(roomIds.map((r) => [r, new VisibilityRules(userId, memberships.get(r) ?? [], visibility.get(r) ?? [])]));
  }

  canSee(e: StoredEvent): boolean {
    const pos = e.streamPos;
    const visibility = latestBefore(this.#visibility, pos)?.pdu.content.history_visibility ?? 'shared';
    if (visibility === 'world_readable') return true;
    const own = e.pdu.type === 'm.room.member' && e.pdu.state_key === this.#userId;
    const before = latestBefore(this.#memberships, pos)?.pdu.content.membership ?? 'leave';
    // Leaving, being kicked or banned, rejecting an invite: the user sees it, or the room
    // never visibly ends for their client (as Synapse does).
    if (own && (e.pdu.content.membership === 'leave' || e.pdu.content.membership === 'ban') && (before === 'join' || before === 'invite')) return true;
    const membership = own ? e.pdu.content.membership : before;
    if (membership === 'join') return true;
    if (visibility === 'shared') return this.#memberships.some((m) => m.streamPos > pos && m.pdu.content.membership === 'join');
    if (visibility === 'invited') return membership === 'invite';
    return false;
  }

  /** Is the user joined now (after every event they can be told about)? */
  get currentMembership(): string {
    return (this.#memberships.at(-1)?.pdu.content.membership as string | undefined) ?? 'leave';
  }

  /** The position of the user's latest membership change, if any. */
  get membershipPos(): number | undefined {
    return this.#memberships.at(-1)?.streamPos;
  }

  filter(events: StoredEvent[]): StoredEvent[] {
    return events.filter((e) => this.canSee(e));
  }
}

function latestBefore(list: StoredEvent[], pos: number): StoredEvent | undefined {
  let found: StoredEvent | undefined;
  for (const e of list) {
    if (e.streamPos < pos) found = e;
    else break;
  }
  return found;
}
