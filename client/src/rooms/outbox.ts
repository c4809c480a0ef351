// The message outbox: a message is written to the device (with its transaction id) before it
// is sent, so one written on a dead link, or in an app closed before the link returned, is
// sent later with the SAME transaction id. The server keeps (device, txn id) -> event, so a
// resend after a lost answer returns the first event instead of posting a second one.

export interface Outgoing {
  txnId: string;
  roomId: string;
  type: string;
  content: Record<string, unknown>;
  created: number;
  /** Set when the server refused it (not a network failure): kept for the user to retry or discard. */
  error?: string;
}

export interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Result of one attempt: sent (with the event id), refused (a Matrix error), or no network. */
export type SendOutcome = { ok: true; eventId: string } | { ok: false; refused: string } | { ok: false; offline: true };

const KEY = 'tocsin.outbox';

/** Unique per device and never reused: time, then randomness (a reused id would be swallowed). */
export function newTxnId(now = Date.now(), random: () => number = Math.random): string {
  return `t${now.toString(36)}.${Math.floor(random() * 2 ** 48).toString(36)}`;
}

export class Outbox {
  readonly #store: KeyValue;
  readonly #user: string;
  #items: Outgoing[];

  constructor(store: KeyValue, user: string) {
    this.#store = store;
    this.#user = user;
    this.#items = this.#load();
  }

  #load(): Outgoing[] {
    try {
      const saved = JSON.parse(this.#store.getItem(KEY) ?? 'null') as { user: string; items: Outgoing[] } | null;
      // Another account's messages never go out under this one.
      return saved && saved.user === this.#user && Array.isArray(saved.items) ? saved.items : [];
    } catch {
      return [];
    }
  }

  #save(): void {
    try {
      this.#store.setItem(KEY, JSON.stringify({ user: this.#user, items: this.#items }));
    } catch {
      // storage full or disabled: the message stays in memory and still goes out while open
    }
  }

  all(): readonly Outgoing[] {
    return this.#items;
  }

  inRoom(roomId: string): Outgoing[] {
    return this.#items.filter((i) => i.roomId === roomId);
  }

  add(item: Outgoing): void {
    this.#items = [...this.#items, item];
    this.#save();
  }

  remove(txnId: string): boolean {
    const before = this.#items.length;
    this.#items = this.#items.filter((i) => i.txnId !== txnId);
    if (this.#items.length !== before) this.#save();
    return this.#items.length !== before;
  }

  /** Back to waiting (a refused message the user retries). */
  retry(txnId: string): void {
    this.#items = this.#items.map((i) => (i.txnId === txnId ? { ...i, error: undefined } : i));
    this.#save();
  }

  /**
   * Sends what waits, oldest first, one at a time (a room's messages keep their order).
   * Stops at the first network failure; a refusal is kept with its reason and not retried.
   * Returns the event ids of what went out, by txn id.
   */
  async flush(send: (item: Outgoing) => Promise<SendOutcome>): Promise<{ sent: Map<string, string>; offline: boolean }> {
    const sent = new Map<string, string>();
    for (const item of [...this.#items]) {
      if (item.error !== undefined) continue;
      if (!this.#items.some((i) => i.txnId === item.txnId)) continue; // its echo arrived meanwhile
      const r = await send(item);
      if (r.ok) {
        sent.set(item.txnId, r.eventId);
        this.remove(item.txnId);
      } else if ('offline' in r) {
        return { sent, offline: true };
      } else {
        this.#items = this.#items.map((i) => (i.txnId === item.txnId ? { ...i, error: r.refused } : i));
        this.#save();
      }
    }
    return { sent, offline: false };
  }
}
