export type PresenceState = 'online' | 'offline' | 'unavailable';

interface Entry {
  presence: PresenceState;
  statusMsg: string | undefined;
  at: number;
}

/**
 * Presence, minimal and cheap: what each user last set, in memory on the node that received
 * it. Nothing is written to the database and nothing is pushed into syncs; a user not heard
 * from is offline. Enough for clients that set and read a status.
 */
export class PresenceStore {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  set(userId: string, presence: PresenceState, statusMsg: string | undefined): void {
    this.#entries.set(userId, { presence, statusMsg, at: this.#now() });
  }

  get(userId: string): { presence: PresenceState; last_active_ago?: number; status_msg?: string; currently_active?: boolean } {
    const e = this.#entries.get(userId);
    if (!e) return { presence: 'offline' };
    return {
      presence: e.presence,
      last_active_ago: Math.max(0, this.#now() - e.at),
      ...(e.statusMsg !== undefined ? { status_msg: e.statusMsg } : {}),
      currently_active: e.presence === 'online',
    };
  }
}
