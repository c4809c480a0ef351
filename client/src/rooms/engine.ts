import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api.ts';
import { isLowBandwidth } from '../bandwidth.ts';
import { loadSession } from '../session.ts';
import { Outbox, newTxnId, type Outgoing, type SendOutcome } from './outbox.ts';
import { applySync, emptyRoom, prependMessages, snapshot, type MatrixEvent, type RoomsState, type SyncResponse } from './room-state.ts';

// The rooms' client: a lean /sync loop (members lazy-loaded, a short timeline per room, only
// the ephemeral events shown), back pagination, sending through the outbox, receipts, typing
// and authenticated media. Plain fetch against the Matrix client-server API.

const C = '/_matrix/client/v3';
const SNAPSHOT_KEY = 'tocsin.rooms';

/**
 * Lazy-loaded members and 20 events a room (5 in low-bandwidth mode, where older ones come by
 * paging back): a first sync stays small on a slow link.
 */
export function syncFilter(low = isLowBandwidth()): string {
  return JSON.stringify({
    presence: { types: [] },
    account_data: { types: [] },
    room: {
      timeline: { limit: low ? 5 : 20, lazy_load_members: true },
      state: { lazy_load_members: true },
      ephemeral: { types: ['m.receipt', 'm.typing'] },
      account_data: { types: [] },
    },
  });
}
const MESSAGES_FILTER = JSON.stringify({ lazy_load_members: true });

interface Engine {
  user: string;
  state: RoomsState;
  outbox: Outbox;
  /** Sent messages waiting for their echo in the timeline, by txn id: no flicker in between. */
  sent: Map<string, { item: Outgoing; eventId: string }>;
  /** Attempts under way, by txn id (shown as "sending"). */
  sending: Set<string>;
  online: boolean;
  synced: boolean;
}

let engine: Engine | undefined;
const listeners = new Set<() => void>();
let version = 0;

function emit(): void {
  version++;
  for (const l of listeners) l();
}

function loadSnapshot(user: string): RoomsState {
  try {
    const s = JSON.parse(localStorage.getItem(SNAPSHOT_KEY) ?? 'null') as (RoomsState & { user: string }) | null;
    if (s && s.user === user && s.rooms) return { rooms: s.rooms, invites: s.invites ?? {} };
  } catch {
    // unreadable: the first sync fills it
  }
  return { rooms: {}, invites: {} };
}

let saveTimer: ReturnType<typeof setTimeout> | undefined;
function saveSnapshot(): void {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    if (!engine || loadSession()?.userId !== engine.user) return;
    try {
      localStorage.setItem(SNAPSHOT_KEY, JSON.stringify({ user: engine.user, ...snapshot(engine.state) }));
    } catch {
      // storage full: the rooms still work online
    }
  }, 500);
}

/** The engine of the signed-in user (a new one after a change of account or a wipe). */
export function getEngine(): Engine {
  const user = loadSession()?.userId ?? '';
  if (!engine || engine.user !== user) {
    for (const p of blobUrls.values()) void p.then((u) => URL.revokeObjectURL(u), () => undefined);
    blobUrls.clear();
    // Writes only while this user is signed in: a lost-phone wipe is not undone by a late save.
    const store = { getItem: (k: string) => localStorage.getItem(k), setItem: (k: string, v: string) => void (loadSession()?.userId === user && localStorage.setItem(k, v)) };
    engine = { user, state: loadSnapshot(user), outbox: new Outbox(store, user), sent: new Map(), sending: new Set(), online: navigator.onLine, synced: false };
  }
  return engine;
}

/** Re-renders the calling component on every change. */
export function useRooms(): Engine {
  const [, setV] = useState(version);
  useEffect(() => {
    const l = () => setV(version);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return getEngine();
}

function setOnline(e: Engine, online: boolean): void {
  if (e.online !== online) {
    e.online = online;
    emit();
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      removeEventListener('online', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    addEventListener('online', done);
    signal.addEventListener('abort', done);
  });
}

/** Drops what the echo of a sent message replaces: its outbox entry, or its "sent" mark. */
function settleEchoes(e: Engine, events: MatrixEvent[]): void {
  for (const ev of events) {
    const txn = ev.unsigned?.transaction_id;
    if (txn) {
      e.outbox.remove(txn);
      e.sent.delete(txn);
    }
    for (const [txnId, s] of e.sent) if (s.eventId === ev.event_id) e.sent.delete(txnId);
  }
}

/** Follows /sync while the rooms are open; a restart begins with a full (small) sync. */
export async function runSync(signal: AbortSignal): Promise<void> {
  const e = getEngine();
  let since: string | undefined = e.synced ? e.state.since : undefined;
  let backoff = 1000;
  // Messages left in the outbox by an earlier visit (or a closed app) go out now.
  void flushOutbox();
  while (!signal.aborted) {
    try {
      const q = new URLSearchParams({ filter: syncFilter(), timeout: since ? '25000' : '0' });
      if (since) q.set('since', since);
      const res = await api<SyncResponse>('GET', `${C}/sync?${q}`, undefined, { signal });
      if (engine !== e) return; // signed out meanwhile
      e.state = applySync(e.state, res, since === undefined);
      for (const j of Object.values(res.rooms?.join ?? {})) settleEchoes(e, j.timeline?.events ?? []);
      since = res.next_batch;
      e.synced = true;
      backoff = 1000;
      setOnline(e, true);
      emit();
      saveSnapshot();
      void flushOutbox();
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.errcode === 'M_UNKNOWN_TOKEN') return;
      if (!(err instanceof ApiError)) setOnline(e, false);
      await pause(backoff, signal);
      backoff = Math.min(backoff * 2, 30_000);
    }
  }
}

/** Older events of a room, before those held. */
export async function loadOlder(roomId: string): Promise<void> {
  const e = getEngine();
  const room = e.state.rooms[roomId];
  if (!room?.prevBatch) return;
  const q = new URLSearchParams({ dir: 'b', from: room.prevBatch, limit: '20', filter: MESSAGES_FILTER });
  const res = await api<{ chunk: MatrixEvent[]; end?: string; state?: MatrixEvent[] }>('GET', `${C}/rooms/${encodeURIComponent(roomId)}/messages?${q}`);
  const now = e.state.rooms[roomId];
  if (!now) return;
  e.state = { ...e.state, rooms: { ...e.state.rooms, [roomId]: prependMessages(now, res) } };
  emit();
}

async function sendOne(item: Outgoing): Promise<SendOutcome> {
  const e = getEngine();
  e.sending.add(item.txnId);
  emit();
  try {
    const path = `${C}/rooms/${encodeURIComponent(item.roomId)}/send/${encodeURIComponent(item.type)}/${encodeURIComponent(item.txnId)}`;
    const r = await api<{ event_id: string }>('PUT', path, item.content);
    return { ok: true, eventId: r.event_id };
  } catch (err) {
    // A revoked session, a rate limit or a server in trouble is not a refusal of the message:
    // it waits (the wipe takes it in the first case, a later attempt sends it in the others).
    if (err instanceof ApiError && err.errcode !== 'M_UNKNOWN_TOKEN' && err.errcode !== 'M_LIMIT_EXCEEDED' && err.status < 500) return { ok: false, refused: err.message };
    return { ok: false, offline: true };
  } finally {
    e.sending.delete(item.txnId);
  }
}

let flushing: Promise<void> | undefined;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let retryDelay = 2000;

/**
 * Sends what the outbox holds. Triggered by a new message, the `online` event, each sync
 * answer, and a timer while something waits (a link can return without `online` firing).
 */
export function flushOutbox(): Promise<void> {
  flushing ??= (async () => {
    const e = getEngine();
    try {
      const before = new Map(e.outbox.all().map((i) => [i.txnId, i]));
      const { sent, offline } = await e.outbox.flush(sendOne);
      for (const [txn, eventId] of sent) {
        const item = before.get(txn);
        // Its echo may already be in the timeline (the sync came first).
        if (item && !e.state.rooms[item.roomId]?.timeline.some((ev) => ev.event_id === eventId)) e.sent.set(txn, { item, eventId });
      }
      if (offline) setOnline(e, false);
      else retryDelay = 2000;
    } finally {
      flushing = undefined;
      emit();
    }
    clearTimeout(retryTimer);
    if (e.outbox.all().some((i) => i.error === undefined)) {
      retryTimer = setTimeout(() => void flushOutbox(), retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30_000);
    }
  })();
  return flushing;
}

addEventListener('online', () => {
  retryDelay = 2000;
  void flushOutbox();
});

/** Queues a message (kept on the device first), then tries to send it. */
export function sendMessage(roomId: string, content: Record<string, unknown>, type = 'm.room.message'): Promise<void> {
  getEngine().outbox.add({ txnId: newTxnId(), roomId, type, content, created: Date.now() });
  emit();
  return flushOutbox();
}

export function retryMessage(txnId: string): void {
  getEngine().outbox.retry(txnId);
  void flushOutbox();
}

export function discardMessage(txnId: string): void {
  getEngine().outbox.remove(txnId);
  emit();
}

/** Marks the room read up to `eventId` (public receipt: others see "seen by"). */
export async function markRead(roomId: string, eventId: string): Promise<void> {
  const e = getEngine();
  const room = e.state.rooms[roomId];
  if (!room || room.receipts[e.user] === eventId) return;
  e.state = { ...e.state, rooms: { ...e.state.rooms, [roomId]: { ...room, unread: 0, highlight: 0, receipts: { ...room.receipts, [e.user]: eventId } } } };
  emit();
  await api('POST', `${C}/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(eventId)}`, {}).catch(() => {
    // offline: the next view sends it again
    const r = getEngine().state.rooms[roomId];
    if (r && r.receipts[e.user] === eventId) delete r.receipts[e.user];
  });
}

let typingSentAt = 0;
let typingRoom = '';

/** Tells the room the user is typing (at most every 10 s), or has stopped. */
export function setTyping(roomId: string, typing: boolean): void {
  const now = Date.now();
  if (typing && typingRoom === roomId && now - typingSentAt < 10_000) return;
  if (!typing && typingRoom !== roomId) return;
  typingSentAt = typing ? now : 0;
  typingRoom = typing ? roomId : '';
  const user = getEngine().user;
  void api('PUT', `${C}/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(user)}`, typing ? { typing: true, timeout: 15_000 } : { typing: false }).catch(() => undefined);
}

export async function joinRoom(roomId: string): Promise<void> {
  await api('POST', `${C}/join/${encodeURIComponent(roomId)}`, {});
  const e = getEngine();
  if (!e.state.rooms[roomId]) e.state = { ...e.state, rooms: { ...e.state.rooms, [roomId]: emptyRoom(roomId) } };
  emit();
}

function bearer(): Record<string, string> {
  const token = loadSession()?.token;
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** Uploads a file; the answer's mxc:// URI goes into the message. */
export async function upload(file: Blob, name: string): Promise<string> {
  const res = await fetch(`/_matrix/media/v3/upload?filename=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { ...bearer(), 'content-type': file.type || 'application/octet-stream' },
    body: file,
  });
  const json = (await res.json().catch(() => ({}))) as { content_uri?: string; error?: string; errcode?: string };
  if (!res.ok || !json.content_uri) throw new ApiError(res.status, json.errcode ?? 'M_UNKNOWN', json.error ?? `HTTP ${res.status}`);
  return json.content_uri;
}

const blobUrls = new Map<string, Promise<string>>();

/**
 * An image through authenticated media (an <img> cannot send the access token): fetched as a
 * blob and shown through an object URL, kept for the session so scrolling does not refetch.
 */
export function mediaUrl(mxc: string, thumb?: { width: number; height: number }): Promise<string> {
  const key = `${mxc}|${thumb ? `${thumb.width}x${thumb.height}` : ''}`;
  let p = blobUrls.get(key);
  if (!p) {
    const m = /^mxc:\/\/([^/]+)\/([^/?#]+)$/.exec(mxc);
    if (!m) return Promise.reject(new Error('not an mxc URI'));
    const base = `/_matrix/client/v1/media/${thumb ? 'thumbnail' : 'download'}/${encodeURIComponent(m[1]!)}/${encodeURIComponent(m[2]!)}`;
    const url = thumb ? `${base}?width=${thumb.width}&height=${thumb.height}&method=scale` : base;
    p = fetch(url, { headers: bearer() }).then(async (res) => {
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return URL.createObjectURL(await res.blob());
    });
    p.catch(() => blobUrls.delete(key));
    blobUrls.set(key, p);
  }
  return p;
}

/** Image size for the m.image info (lets other clients reserve the space). */
export async function imageSize(file: Blob): Promise<{ w: number; h: number } | undefined> {
  try {
    const bmp = await createImageBitmap(file);
    const size = { w: bmp.width, h: bmp.height };
    bmp.close();
    return size;
  } catch {
    return undefined;
  }
}
