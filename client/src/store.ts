import { useEffect, useState } from 'preact/hooks';
import { ApiError, V1, api } from './api.ts';

// The alert inbox on the device: what the compact feed sent, kept in localStorage so the
// inbox shows offline, and an outbox of acknowledgements made without a network (sent when
// the link returns; the server keeps the first acknowledgement, so a resend never doubles).

export interface Alert {
  id: string;
  sev: 'info' | 'warning' | 'critical';
  title: string;
  body: string;
  ts: number;
  drill?: 1;
  state?: string;
  code?: string;
  ack?: number;
  rc?: { question?: string; answers: string[] };
  ans?: string;
  /** An acknowledgement waiting for the network (answer for roll calls). */
  queued?: { answer?: string };
  /** Why the server refused the last acknowledgement. */
  error?: string;
}

const ALERTS_KEY = 'tocsin.alerts';
const FEED_KEY = 'tocsin.feed';
const KEEP = 200;

interface State {
  alerts: Map<string, Alert>;
  online: boolean;
}

const state: State = { alerts: new Map(), online: navigator.onLine };
const listeners = new Set<() => void>();
let version = 0;

function emit(): void {
  version++;
  for (const l of listeners) l();
}

/** Re-renders the calling component whenever the store changes. */
export function useStore(): State {
  const [, setV] = useState(version);
  useEffect(() => {
    const l = () => setV(version);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return state;
}

function persist(): void {
  const list = sortedAlerts().slice(0, KEEP);
  try {
    localStorage.setItem(ALERTS_KEY, JSON.stringify(list));
  } catch {
    // storage full or disabled: the inbox still works online
  }
  updateBadge();
}

export function loadStoredAlerts(): void {
  state.alerts.clear();
  try {
    const list = JSON.parse(localStorage.getItem(ALERTS_KEY) ?? '[]') as Alert[];
    for (const a of list) if (a && typeof a.id === 'string') state.alerts.set(a.id, a);
  } catch {
    // unreadable: starts empty, the feed fills it
  }
  emit();
}

export function needsAck(a: Alert): boolean {
  return a.ack === undefined && !a.queued && (a.state === undefined || a.state === 'active');
}

/** Alerts waiting for this person's acknowledgement first, then the newest first. */
export function sortedAlerts(): Alert[] {
  return [...state.alerts.values()].sort((a, b) => Number(needsAck(b)) - Number(needsAck(a)) || b.ts - a.ts);
}

function updateBadge(): void {
  const n = [...state.alerts.values()].filter(needsAck).length;
  const nav = navigator as Navigator & { setAppBadge?: (n: number) => Promise<void>; clearAppBadge?: () => Promise<void> };
  (n > 0 ? nav.setAppBadge?.(n) : nav.clearAppBadge?.())?.catch(() => undefined);
  document.title = n > 0 ? `(${n}) Tocsin` : 'Tocsin';
}

const VIBRATE: Record<string, number[]> = { critical: [600, 200, 600, 200, 600, 200, 1200], warning: [300, 150, 300], info: [200] };

function merge(frames: Alert[], live: boolean): void {
  for (const f of frames) {
    const old = state.alerts.get(f.id);
    // A change to an alert the app already holds (its acknowledgement, a roll-call answer)
    // comes as a short frame {id, ack?, ans?}: merged into what is known. Without the alert
    // itself it cannot be shown, so it waits for the whole frame.
    if (!old && (f as Partial<Alert>).title === undefined) continue;
    const next = { ...old, ...f } as Alert;
    // A queued acknowledgement stays queued until the server reports one.
    if (f.ack !== undefined) delete next.queued;
    state.alerts.set(f.id, next);
    // A new alert arriving while the app is open: the device buzzes, longer for critical ones.
    if (live && !old && needsAck(next)) {
      try {
        navigator.vibrate?.(VIBRATE[next.sev] ?? [200]);
      } catch {
        // no vibrator
      }
    }
  }
  if (frames.length > 0) {
    persist();
    emit();
  }
}

function setOnline(online: boolean): void {
  if (state.online !== online) {
    state.online = online;
    emit();
  }
}

/** Waits `ms`, or less when the browser says the network is back. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener('online', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    window.addEventListener('online', done);
    signal.addEventListener('abort', done);
  });
}

/**
 * Follows the compact alert feed: a long-poll that returns as soon as one of the user's alerts
 * changes. The `next` token is kept, so a reconnection (or a restart) gets everything missed.
 */
export async function followFeed(signal: AbortSignal): Promise<void> {
  let since = localStorage.getItem(FEED_KEY) ?? undefined;
  let backoff = 1000;
  while (!signal.aborted) {
    try {
      const query = since ? `since=${encodeURIComponent(since)}&timeout=25000` : 'timeout=0';
      const r = await api<{ next: string; alerts: Alert[] }>('GET', `${V1}/feed?${query}`, undefined, { signal });
      merge(r.alerts, since !== undefined);
      since = r.next;
      localStorage.setItem(FEED_KEY, since);
      setOnline(true);
      backoff = 1000;
      void flushOutbox();
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.errcode === 'M_UNKNOWN_TOKEN') return;
      if (err instanceof ApiError && err.errcode === 'M_INVALID_PARAM') {
        // A token from another server or an old version: start over from the full list.
        since = undefined;
        localStorage.removeItem(FEED_KEY);
      } else {
        setOnline(false);
      }
      await pause(backoff, signal);
      backoff = Math.min(backoff * 2, 30_000);
    }
  }
}

let flushing: Promise<void> | undefined;

/** Sends the queued acknowledgements, one at a time, until one fails for lack of network. */
export function flushOutbox(): Promise<void> {
  flushing ??= sendQueued().then((stalled) => {
    flushing = undefined;
    // A tap during the run: its acknowledgement was queued after the run looked.
    if (!stalled && [...state.alerts.values()].some((a) => a.queued)) return flushOutbox();
  });
  return flushing;
}

/** Returns true when the network failed (the rest waits for the next feed answer or `online`). */
async function sendQueued(): Promise<boolean> {
  for (const a of [...state.alerts.values()]) {
    if (!a.queued) continue;
    const answer = a.queued.answer;
    try {
      await api('POST', `${V1}/alerts/${encodeURIComponent(a.id)}/ack`, answer === undefined ? {} : { answer });
      const now = state.alerts.get(a.id) ?? a;
      state.alerts.set(a.id, { ...now, queued: undefined, error: undefined, ack: now.ack ?? Date.now(), ...(answer !== undefined ? { ans: answer } : {}) });
      navigator.serviceWorker?.controller?.postMessage({ type: 'acked', alert: a.id });
    } catch (err) {
      if (!(err instanceof ApiError)) {
        setOnline(false);
        return true;
      }
      // Refused (closed alert, not a recipient, wrong answer): no point in retrying.
      const now = state.alerts.get(a.id) ?? a;
      state.alerts.set(a.id, { ...now, queued: undefined, error: err.message });
      if (err.errcode === 'M_UNKNOWN_TOKEN') return true;
    } finally {
      persist();
      emit();
    }
  }
  return false;
}

/** One tap: queued first (so it survives a dead link or a closed app), then sent. */
export function acknowledge(id: string, answer?: string): Promise<void> {
  const a = state.alerts.get(id);
  if (!a) return Promise.resolve();
  state.alerts.set(id, { ...a, queued: answer === undefined ? {} : { answer }, error: undefined });
  persist();
  emit();
  return flushOutbox();
}

export function clearStore(): void {
  state.alerts.clear();
  emit();
}

addEventListener('online', () => void flushOutbox());
