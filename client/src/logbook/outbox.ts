import { ApiError, api } from '../api.ts';

// Entries recorded on a dead link wait here (localStorage, so a closed app keeps them) and are
// sent when the link returns, each with the transaction id it was given when typed: the server
// answers a repeated (device, txn id) with the first event, so nothing is lost or doubled.

export interface QueuedEntry {
  roomId: string;
  txnId: string;
  content: Record<string, unknown>;
  queuedAt: number;
  error?: string;
}

const KEY = 'tocsin.logbook.outbox';

export function queued(roomId?: string): QueuedEntry[] {
  try {
    const all = JSON.parse(localStorage.getItem(KEY) ?? '[]') as QueuedEntry[];
    return Array.isArray(all) ? all.filter((q) => roomId === undefined || q.roomId === roomId) : [];
  } catch {
    return [];
  }
}

function save(list: QueuedEntry[]): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(list));
  } catch {
    // storage full: the entry stays in memory until sent
  }
}

export function enqueue(entry: QueuedEntry): void {
  save([...queued(), entry]);
}

let running: Promise<boolean> | undefined;

/** Sends what waits, oldest first; true when everything went (or was refused for good). */
export function flush(): Promise<boolean> {
  // `finally` runs after the assignment, even when there was nothing to send.
  running ??= sendAll().finally(() => {
    running = undefined;
  });
  // An entry recorded during a run was not in its list: one more run for it.
  return running.then((ok) => (ok && queued().some((q) => !q.error) ? flush() : ok));
}

async function sendAll(): Promise<boolean> {
  for (const q of queued()) {
    if (q.error) continue;
    try {
      await api('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(q.roomId)}/send/m.room.message/${encodeURIComponent(q.txnId)}`, q.content);
      save(queued().filter((x) => x.txnId !== q.txnId));
    } catch (err) {
      // No network, or a server asking to slow down: the rest waits for the next try.
      if (!(err instanceof ApiError) || err.errcode === 'M_LIMIT_EXCEEDED' || err.status >= 500) return false;
      if (err.errcode === 'M_UNKNOWN_TOKEN') return false;
      // Refused (left the room, no right to post): kept with the reason, shown, not retried.
      save(queued().map((x) => (x.txnId === q.txnId ? { ...x, error: err.message } : x)));
    }
  }
  return true;
}

export function drop(txnId: string): void {
  save(queued().filter((x) => x.txnId !== txnId));
}
