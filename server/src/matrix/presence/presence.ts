import type { Knex } from 'knex';
import type { NotifyBus } from '../../notify/bus.ts';
import { EphemeralClock } from '../../notify/ephemeral-clock.ts';
import * as membershipsRepo from '../../storage/memberships.ts';

export type PresenceState = 'online' | 'offline' | 'unavailable';

interface Entry {
  presence: PresenceState;
  statusMsg: string | undefined;
  at: number;
  /** The ephemeral clock's serial when presence or status last changed. */
  changedAt: number;
}

export interface PresenceContent {
  presence: PresenceState;
  last_active_ago?: number;
  status_msg?: string;
  currently_active?: boolean;
}

/**
 * Presence, minimal and cheap: what each user last set (PUT /presence), in memory on the node
 * that received it; nothing is written to the database, and a user not heard from is offline.
 * A change (not a repeat of the same state) takes a serial of the ephemeral clock, which sync
 * tokens carry, and wakes the syncs of the users sharing a room with its author: their next
 * sync gets an m.presence event, once.
 */
export class PresenceService {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #db: Knex | undefined;
  readonly #bus: NotifyBus | undefined;
  readonly #clock: EphemeralClock;
  readonly #listeners: Array<(userId: string, content: PresenceContent) => void> = [];

  constructor(deps: { db?: Knex; bus?: NotifyBus; clock?: EphemeralClock; now?: () => number } = {}) {
    this.#db = deps.db;
    this.#bus = deps.bus;
    this.#clock = deps.clock ?? new EphemeralClock();
    this.#now = deps.now ?? Date.now;
  }

  /** Called after each change (not a repeat) of a user's presence. */
  onChange(listener: (userId: string, content: PresenceContent) => void): void {
    this.#listeners.push(listener);
  }

  async set(userId: string, presence: PresenceState, statusMsg: string | undefined): Promise<void> {
    const before = this.#entries.get(userId);
    const changed = !before || before.presence !== presence || before.statusMsg !== statusMsg;
    this.#entries.set(userId, { presence, statusMsg, at: this.#now(), changedAt: changed ? this.#clock.next() : before.changedAt });
    if (!changed) return;
    for (const listener of this.#listeners) listener(userId, this.get(userId));
    if (!this.#db || !this.#bus) return;
    const rooms = await membershipsRepo.roomsOfUser(this.#db, userId, ['join']);
    this.#bus.publish({ rooms: rooms.map((r) => r.room_id), users: [userId] });
  }

  get(userId: string): PresenceContent {
    const e = this.#entries.get(userId);
    if (!e) return { presence: 'offline' };
    return contentOf(e, this.#now());
  }

  /** Users whose presence changed after `sinceSerial` (every user ever set, when undefined). */
  changedSince(sinceSerial: number | undefined): Array<{ userId: string; content: PresenceContent }> {
    const now = this.#now();
    const out: Array<{ userId: string; content: PresenceContent }> = [];
    for (const [userId, e] of this.#entries) {
      if (sinceSerial === undefined || e.changedAt > sinceSerial) out.push({ userId, content: contentOf(e, now) });
    }
    return out;
  }
}

function contentOf(e: Entry, now: number): PresenceContent {
  return {
    presence: e.presence,
    last_active_ago: Math.max(0, now - e.at),
    ...(e.statusMsg !== undefined ? { status_msg: e.statusMsg } : {}),
    currently_active: e.presence === 'online',
  };
}
