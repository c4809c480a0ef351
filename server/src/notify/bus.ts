/**
 * Wake-ups for long-polling /sync (and, later, workers). Writers publish after their
 * transaction commits, naming the rooms and users a change concerns; a waiter wakes only for
 * its own rooms and user. Positions are those of storage/stream.ts.
 */
export interface Change {
  pos?: number;
  rooms?: Iterable<string>;
  users?: Iterable<string>;
  /** Wake every waiter (another process's change too large to describe). */
  everyone?: boolean;
  /** Typing notifications, which live in each process's memory: relayed to the others. */
  typing?: TypingChange[];
  /** Presence set on this process, relayed so that every process knows it (presence.ts). */
  presence?: PresenceChange[];
}

/**
 * A user's presence as the process that saw their latest activity knows it. Sent when it
 * changes, and when a user's activity moves to another process (which then owns their timers).
 */
export interface PresenceChange {
  user: string;
  presence: 'online' | 'offline' | 'unavailable';
  statusMsg: string | null;
  /** Last activity, ms since epoch. */
  active: number;
}

/** A user started (until: expiry, ms since epoch) or stopped (until: 0) typing in a room. */
export interface TypingChange {
  room: string;
  user: string;
  until: number;
}

interface Waiter {
  rooms: ReadonlySet<string>;
  userId: string;
  wake: () => void;
}

export class NotifyBus {
  #pos = 0;
  // Last position or typing serial at which each room/user changed: lets a waiter that
  // registers late see that it already missed a wake-up.
  #roomChanged = new Map<string, number>();
  #userChanged = new Map<string, number>();
  #tick = 0;
  #byRoom = new Map<string, Set<Waiter>>();
  #byUser = new Map<string, Set<Waiter>>();
  #allWaiters = new Set<Waiter>();
  #localListeners: Array<(change: Change) => void> = [];
  #remoteListeners: Array<(change: Change) => void> = [];
  #everyoneAt = 0;

  /** Highest committed stream position known to this process. */
  get position(): number {
    return this.#pos;
  }

  /** A counter bumped by every publish; waiters compare it to what they computed against. */
  get tick(): number {
    return this.#tick;
  }

  advanceTo(pos: number): void {
    if (pos > this.#pos) this.#pos = pos;
  }

  /** A change committed by this process: wakes local waiters and is relayed to other processes. */
  publish(change: Change): void {
    this.#deliver(change);
    for (const listener of this.#localListeners) listener(change);
  }

  /** A change committed by another process (see pg-relay.ts). */
  publishRemote(change: Change): void {
    // Listeners first (typing and presence state applied), then the waiters they concern wake up.
    for (const listener of this.#remoteListeners) listener(change);
    this.#deliver(change);
  }

  onLocalPublish(listener: (change: Change) => void): void {
    this.#localListeners.push(listener);
  }

  onRemotePublish(listener: (change: Change) => void): void {
    this.#remoteListeners.push(listener);
  }

  #deliver(change: Change): void {
    if (change.pos !== undefined) this.advanceTo(change.pos);
    const tick = ++this.#tick;
    const woken = new Set<Waiter>();
    if (change.everyone) {
      this.#everyoneAt = tick;
      for (const w of this.#allWaiters) woken.add(w);
    }
    for (const room of change.rooms ?? []) {
      this.#roomChanged.set(room, tick);
      for (const w of this.#byRoom.get(room) ?? []) woken.add(w);
    }
    for (const user of change.users ?? []) {
      this.#userChanged.set(user, tick);
      for (const w of this.#byUser.get(user) ?? []) woken.add(w);
    }
    for (const w of woken) w.wake();
  }

  /**
   * Resolves true when a change for the user or one of the rooms is published after `sinceTick`
   * (immediately if one already was), false on timeout or abort.
   */
  wait(userId: string, rooms: ReadonlySet<string>, sinceTick: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#everyoneAt > sinceTick || (this.#userChanged.get(userId) ?? 0) > sinceTick) return Promise.resolve(true);
    for (const r of rooms) if ((this.#roomChanged.get(r) ?? 0) > sinceTick) return Promise.resolve(true);
    if (timeoutMs <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (woken: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        for (const r of rooms) this.#remove(this.#byRoom, r, waiter);
        this.#remove(this.#byUser, userId, waiter);
        this.#allWaiters.delete(waiter);
        resolve(woken);
      };
      const onAbort = () => finish(false);
      const waiter: Waiter = { rooms, userId, wake: () => finish(true) };
      const timer = setTimeout(() => finish(false), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      for (const r of rooms) this.#add(this.#byRoom, r, waiter);
      this.#add(this.#byUser, userId, waiter);
      this.#allWaiters.add(waiter);
    });
  }

  #add(map: Map<string, Set<Waiter>>, key: string, w: Waiter): void {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(w);
  }

  #remove(map: Map<string, Set<Waiter>>, key: string, w: Waiter): void {
    const set = map.get(key);
    if (!set) return;
    set.delete(w);
    if (set.size === 0) map.delete(key);
  }
}
