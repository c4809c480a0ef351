import type { Knex } from 'knex';
import * as eventsRepo from '../../storage/events.ts';
import type { StoredEvent } from '../../storage/events.ts';
import { stateMapKey } from '../events/pdu.ts';
import { toClientEvents, type ClientEvent, type Viewer } from '../timeline/client-format.ts';
import { VisibilityRules } from '../timeline/visibility.ts';
import { matchesEventFilter, type Filter } from './filters.ts';
import { formatSyncToken } from './tokens.ts';

export interface RoomTimelineSection {
  timeline: { events: ClientEvent[]; limited: boolean; prev_batch: string };
  state: { events: ClientEvent[] };
  /** Raw timeline events, for callers that need positions or senders. */
  stored: StoredEvent[];
  /** Membership may have changed in the window (so the room summary is worth sending). */
  membersChanged: boolean;
}

export interface RoomWindow {
  roomId: string;
  /** Exclusive lower bound: undefined for a room seen for the first time. */
  since: number | undefined;
  /** Inclusive upper bound (now, or the user's leave event). */
  upTo: number;
  typingSerial: number;
  fullState: boolean;
  /**
   * The user was joined at `since` and still is: every event of the window is visible to them,
   * whatever the history visibility, so the visibility rules need not be loaded.
   */
  joinedThroughout?: boolean;
  /** The window's latest `timelineLimit + 1` events, newest first, when already read. */
  prefetched?: StoredEvent[] | undefined;
}

/** How many timeline events a sync gives per room. */
export function timelineLimit(filter: Filter): number {
  return Math.min(filter.room?.timeline?.limit ?? 10, 100);
}

/**
 * The timeline and state of one room for a sync: the last `limit` events of the window the
 * user may see, and the state at the start of that timeline (all of it for a room new to the
 * client, or only what changed since the last sync when the timeline had a gap).
 */
export async function roomTimeline(db: Knex, viewer: Viewer, w: RoomWindow, filter: Filter): Promise<RoomTimelineSection> {
  const timelineFilter = filter.room?.timeline;
  const limit = timelineLimit(filter);
  const rules = w.joinedThroughout && w.since !== undefined ? undefined : await VisibilityRules.load(db, w.roomId, viewer.userId);
  const fetched =
    w.prefetched ??
    (await eventsRepo.roomEventsBetween(db, w.roomId, {
      ...(w.since !== undefined ? { after: w.since } : {}),
      upTo: w.upTo,
      limit: limit + 1,
      backwards: true,
    }));
  const limited = fetched.length > limit;
  const window = fetched.slice(0, limit).reverse();
  const visible = (rules ? rules.filter(window) : window).filter((e) => matchesEventFilter(timelineFilter, e.pdu.type, e.pdu.sender));
  const startPos = window[0] ? window[0].streamPos - 1 : w.upTo;

  let state: StoredEvent[] = [];
  if (w.since === undefined || w.fullState) {
    state = await eventsRepo.stateAt(db, w.roomId, startPos);
  } else if (limited) {
    const changed = new Set((await eventsRepo.stateEventsBetween(db, w.roomId, w.since, startPos)).map((e) => stateMapKey(e.pdu.type, e.pdu.state_key ?? '')));
    if (changed.size > 0) {
      state = (await eventsRepo.stateAt(db, w.roomId, startPos)).filter((e) => changed.has(stateMapKey(e.pdu.type, e.pdu.state_key ?? '')));
    }
  }
  const stateFilter = filter.room?.state;
  state = state.filter((e) => matchesEventFilter(stateFilter, e.pdu.type, e.pdu.sender));
  if (stateFilter?.lazy_load_members) {
    const senders = new Set(visible.map((e) => e.pdu.sender));
    senders.add(viewer.userId);
    state = state.filter((e) => e.pdu.type !== 'm.room.member' || senders.has(e.pdu.state_key ?? ''));
  }
  return {
    timeline: {
      events: await toClientEvents(db, visible, viewer, { withRoomId: false }),
      limited,
      prev_batch: formatSyncToken({ pos: startPos, typing: w.typingSerial }),
    },
    state: { events: await toClientEvents(db, state, viewer, { withRoomId: false }) },
    stored: visible,
    membersChanged: w.since === undefined || w.fullState || limited || window.some((e) => e.pdu.type === 'm.room.member'),
  };
}
