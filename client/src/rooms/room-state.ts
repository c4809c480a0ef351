// What the app knows of the user's rooms, built from /sync and /messages answers. Pure
// functions (no DOM, no network) so the unit tests pin them down.

export interface MatrixEvent {
  event_id: string;
  type: string;
  sender: string;
  origin_server_ts: number;
  content: Record<string, unknown>;
  state_key?: string;
  unsigned?: { transaction_id?: string; redacted_because?: unknown };
}

export interface Member {
  name?: string;
  membership: string;
}

export interface Room {
  id: string;
  name?: string;
  alias?: string;
  heroes: string[];
  members: Record<string, Member>;
  /** Oldest first. */
  timeline: MatrixEvent[];
  /** Token to page back from the oldest event held; absent once the start is reached or unknown. */
  prevBatch?: string;
  atStart: boolean;
  unread: number;
  highlight: number;
  /** user -> the event of their latest public read receipt. */
  receipts: Record<string, string>;
  typing: string[];
}

export interface Invite {
  id: string;
  name?: string;
  inviter?: string;
}

export interface RoomsState {
  since?: string;
  rooms: Record<string, Room>;
  invites: Record<string, Invite>;
}

interface SyncTimeline {
  events?: MatrixEvent[];
  limited?: boolean;
  prev_batch?: string;
}
interface JoinedRoomSync {
  timeline?: SyncTimeline;
  state?: { events?: MatrixEvent[] };
  ephemeral?: { events?: { type: string; content: Record<string, unknown> }[] };
  unread_notifications?: { notification_count?: number; highlight_count?: number };
  summary?: { 'm.heroes'?: string[] };
}
export interface SyncResponse {
  next_batch: string;
  rooms?: {
    join?: Record<string, JoinedRoomSync>;
    invite?: Record<string, { invite_state?: { events?: MatrixEvent[] } }>;
    leave?: Record<string, unknown>;
  };
}

export function emptyRoom(id: string): Room {
  return { id, heroes: [], members: {}, timeline: [], atStart: false, unread: 0, highlight: 0, receipts: {}, typing: [] };
}

/** Room state events (name, alias, members) update what the room list and timeline show. */
function applyState(room: Room, e: MatrixEvent): void {
  if (e.state_key === undefined) return;
  if (e.type === 'm.room.name') room.name = typeof e.content.name === 'string' && e.content.name ? e.content.name : undefined;
  else if (e.type === 'm.room.canonical_alias') room.alias = typeof e.content.alias === 'string' ? e.content.alias : undefined;
  else if (e.type === 'm.room.member') {
    const name = typeof e.content.displayname === 'string' && e.content.displayname ? e.content.displayname : undefined;
    room.members[e.state_key] = { name, membership: String(e.content.membership ?? 'leave') };
  }
}

/**
 * Folds one /sync answer into the state (a first sync, without `since`, replaces it).
 * A `limited` timeline means a gap: what was held is dropped, and paging back starts from the
 * new `prev_batch`, so the timeline never shows a hole as if it were continuous.
 */
export function applySync(prev: RoomsState, res: SyncResponse, initial: boolean): RoomsState {
  const rooms: Record<string, Room> = initial ? {} : { ...prev.rooms };
  const invites: Record<string, Invite> = initial ? {} : { ...prev.invites };
  for (const [id, j] of Object.entries(res.rooms?.join ?? {})) {
    const old = rooms[id];
    const room: Room = old ? { ...old, members: { ...old.members }, receipts: { ...old.receipts } } : emptyRoom(id);
    delete invites[id];
    for (const e of j.state?.events ?? []) applyState(room, e);
    const tl = j.timeline ?? {};
    const events = tl.events ?? [];
    if (!old || tl.limited) {
      room.timeline = [];
      room.prevBatch = tl.prev_batch;
      room.atStart = false;
    }
    room.timeline = mergeEvents(room.timeline, events);
    for (const e of events) applyState(room, e);
    if (j.summary?.['m.heroes']) room.heroes = j.summary['m.heroes'];
    if (j.unread_notifications) {
      room.unread = j.unread_notifications.notification_count ?? 0;
      room.highlight = j.unread_notifications.highlight_count ?? 0;
    }
    for (const eph of j.ephemeral?.events ?? []) {
      if (eph.type === 'm.typing') room.typing = Array.isArray(eph.content.user_ids) ? (eph.content.user_ids as string[]) : [];
      else if (eph.type === 'm.receipt') applyReceipts(room, eph.content);
    }
    rooms[id] = room;
  }
  for (const [id, inv] of Object.entries(res.rooms?.invite ?? {})) {
    const events = inv.invite_state?.events ?? [];
    const name = events.find((e) => e.type === 'm.room.name')?.content.name;
    const inviter = events.find((e) => e.type === 'm.room.member' && e.content.membership === 'invite')?.sender;
    invites[id] = { id, name: typeof name === 'string' ? name : undefined, inviter };
  }
  for (const id of Object.keys(res.rooms?.leave ?? {})) {
    delete rooms[id];
    delete invites[id];
  }
  return { since: res.next_batch, rooms, invites };
}

/** Appends events not held yet (a sync after a resend may repeat one), keeping order. */
function mergeEvents(held: MatrixEvent[], incoming: MatrixEvent[]): MatrixEvent[] {
  if (incoming.length === 0) return held;
  const ids = new Set(held.map((e) => e.event_id));
  return [...held, ...incoming.filter((e) => !ids.has(e.event_id))];
}

function applyReceipts(room: Room, content: Record<string, unknown>): void {
  for (const [eventId, byType] of Object.entries(content)) {
    const read = (byType as Record<string, Record<string, { thread_id?: string }>>)['m.read'];
    if (!read) continue;
    for (const [user, r] of Object.entries(read)) {
      // Thread receipts leave the main timeline's receipt where it was.
      if (r?.thread_id && r.thread_id !== 'main') continue;
      const current = room.receipts[user];
      if (current && indexOf(room, current) > indexOf(room, eventId)) continue;
      room.receipts[user] = eventId;
    }
  }
}

function indexOf(room: Room, eventId: string): number {
  return room.timeline.findIndex((e) => e.event_id === eventId);
}

/** An answer of GET /messages?dir=b: older events go before the ones held. */
export function prependMessages(room: Room, res: { chunk: MatrixEvent[]; end?: string; state?: MatrixEvent[] }): Room {
  const next: Room = { ...room, members: { ...room.members } };
  for (const e of res.state ?? []) applyState(next, e);
  const ids = new Set(room.timeline.map((e) => e.event_id));
  const older = res.chunk.filter((e) => !ids.has(e.event_id)).reverse();
  // Members met only in old events: their names (the current state wins).
  for (const e of older) if (e.type === 'm.room.member' && e.state_key && !next.members[e.state_key]) applyState(next, e);
  next.timeline = [...older, ...room.timeline];
  next.prevBatch = res.end;
  next.atStart = res.end === undefined;
  return next;
}

/** The name shown for a user: their display name in the room, else the localpart. */
export function displayName(room: Room | undefined, userId: string): string {
  return room?.members[userId]?.name ?? userId.replace(/^@/, '').split(':')[0]!;
}

/** The room's name as clients derive it: name, alias, then the other members (the heroes). */
export function roomName(room: Room, me: string): string {
  if (room.name) return room.name;
  if (room.alias) return room.alias;
  const others = (room.heroes.length > 0 ? room.heroes : Object.keys(room.members).filter((u) => room.members[u]!.membership === 'join')).filter((u) => u !== me);
  return others.length > 0 ? others.map((u) => displayName(room, u)).join(', ') : room.id;
}

/**
 * Where each other person's reading stopped, on the events shown: a receipt on an event not
 * shown (a reaction, a state change) counts for the last shown event before it. A receipt on
 * an event not held (older than the timeline loaded) shows nowhere.
 */
export function seenBy(room: Room, shown: (e: MatrixEvent) => boolean, me: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const index = new Map(room.timeline.map((e, i) => [e.event_id, i]));
  for (const [user, eventId] of Object.entries(room.receipts).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (user === me) continue;
    let i = index.get(eventId) ?? -1;
    while (i >= 0 && !shown(room.timeline[i]!)) i--;
    if (i < 0) continue;
    const at = room.timeline[i]!.event_id;
    out.set(at, [...(out.get(at) ?? []), user]);
  }
  return out;
}

/**
 * Does the event mention this user? `m.mentions` decides when present (Matrix v1.7); older
 * clients' messages without it mention by naming the user in the body.
 */
export function mentions(e: MatrixEvent, me: string, myName?: string): boolean {
  if (e.sender === me) return false;
  const m = e.content['m.mentions'] as { user_ids?: unknown } | undefined;
  if (m && typeof m === 'object') return Array.isArray(m.user_ids) && m.user_ids.includes(me);
  const body = typeof e.content.body === 'string' ? e.content.body.toLowerCase() : '';
  const localpart = me.replace(/^@/, '').split(':')[0]!.toLowerCase();
  return body.includes(me.toLowerCase()) || wordIn(body, localpart) || (!!myName && wordIn(body, myName.toLowerCase()));
}

function wordIn(text: string, word: string): boolean {
  if (!word) return false;
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\p{L}\\p{N}_])@?${escaped}($|[^\\p{L}\\p{N}_])`, 'u').test(text);
}

/**
 * The users a message written in the composer mentions: `@user:server` written in full, or
 * `@name` where name is the localpart or display name (without spaces) of someone in the
 * room: a member, or a sender seen in the timeline (members are lazy-loaded, so not all are
 * known). Listed in `m.mentions`, so clients notify them without guessing from the text.
 */
export function mentionedUsers(text: string, room: Room, me: string): string[] {
  const found = new Set<string>();
  const people = new Set<string>([...Object.keys(room.members).filter((id) => room.members[id]!.membership === 'join'), ...room.timeline.map((e) => e.sender), ...room.heroes]);
  for (const m of text.matchAll(/@([\p{L}\p{N}._=\-/+]+(?::[\w.\-]+(?::\d+)?)?)/gu)) {
    const token = m[1]!;
    if (token.includes(':')) {
      found.add(`@${token}`);
      continue;
    }
    const lower = token.toLowerCase();
    for (const id of people) {
      const localpart = id.slice(1).split(':')[0]!.toLowerCase();
      if (localpart === lower || room.members[id]?.name?.toLowerCase() === lower) found.add(id);
    }
  }
  found.delete(me);
  return [...found].sort();
}

/** Rooms with something unread first, then the most recently active. */
export function sortedRooms(state: RoomsState): Room[] {
  const last = (r: Room) => r.timeline.at(-1)?.origin_server_ts ?? 0;
  return Object.values(state.rooms).sort((a, b) => Number(b.unread > 0) - Number(a.unread > 0) || last(b) - last(a));
}

/** What the device keeps for an offline start: the last events of each room, no tokens. */
export function snapshot(state: RoomsState, keep = 30): RoomsState {
  const rooms: Record<string, Room> = {};
  for (const [id, r] of Object.entries(state.rooms)) {
    const timeline = r.timeline.slice(-keep);
    rooms[id] = { ...r, timeline, typing: [], prevBatch: undefined, atStart: r.atStart && timeline.length === r.timeline.length };
  }
  return { rooms, invites: state.invites };
}
