import type { Knex } from 'knex';
import type { Logger } from '../../logger.ts';
import type { Change, NotifyBus, PresenceChange } from '../../notify/bus.ts';
import { EphemeralClock } from '../../notify/ephemeral-clock.ts';
import * as membershipsRepo from '../../storage/memberships.ts';

export type PresenceState = 'online' | 'offline' | 'unavailable';

interface Entry {
  presence: PresenceState;
  statusMsg: string | undefined;
  /** Last activity (ms since epoch): last_active_ago is counted from it. */
  active: number;
  /** The ephemeral clock's serial when presence or status last changed. */
  changedAt: number;
  /**
   * This process saw the user's latest activity, so its timers decide when they go
   * unavailable and offline; another process's relayed change or activity takes that over.
   */
  local: boolean;
  /** Syncs of the user in progress on this process. */
  syncing: number;
  /** When this process last heard from the user (a sync started or ended, a PUT). */
  seen: number;
}

export interface PresenceContent {
  presence: PresenceState;
  last_active_ago?: number;
  status_msg?: string;
  currently_active?: boolean;
}

export interface PresenceTimeouts {
  /** Online without activity this long: unavailable (Synapse's idle timer is 5 minutes). */
  idleMs: number;
  /** No sync in progress and no request this long: offline (Synapse waits 30 s). */
  offlineMs: number;
}

export const DEFAULT_PRESENCE_TIMEOUTS: PresenceTimeouts = { idleMs: 5 * 60_000, offlineMs: 30_000 };
/** Active this recently: `currently_active` (the granularity Synapse uses). */
const CURRENTLY_ACTIVE_MS = 60_000;

/**
 * Presence, minimal and cheap: in memory, nothing written to the database; a user not heard
 * from is offline. A change (not a repeat of the same state) takes a serial of the ephemeral
 * clock, which sync tokens carry, and wakes the syncs of the users sharing a room with its
 * author: their next sync gets an m.presence event, once.
 *
 * Several processes: each change is relayed over the bus (PostgreSQL NOTIFY) with the state, so
 * every process answers syncs alike. Activity that changes nothing is relayed only when it
 * moves from one process to another, which then owns the user's idle and offline timers: a
 * request that changes nothing costs no write and, on the process that already owns the user,
 * no message.
 */
export class PresenceService {
  readonly #entries = new Map<string, Entry>();
  /** Users whose timers this process runs: local and not offline. */
  readonly #watched = new Set<string>();
  readonly #now: () => number;
  readonly #db: Knex | undefined;
  readonly #bus: NotifyBus | undefined;
  readonly #clock: EphemeralClock;
  readonly #timeouts: PresenceTimeouts;
  readonly #listeners: Array<(userId: string, content: PresenceContent) => void> = [];
  readonly #log: Logger | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: { db?: Knex; bus?: NotifyBus; clock?: EphemeralClock; now?: () => number; timeouts?: PresenceTimeouts; log?: Logger } = {}) {
    this.#db = deps.db;
    this.#log = deps.log;
    this.#bus = deps.bus;
    this.#clock = deps.clock ?? new EphemeralClock();
    this.#now = deps.now ?? Date.now;
    this.#timeouts = deps.timeouts ?? DEFAULT_PRESENCE_TIMEOUTS;
    deps.bus?.onRemotePublish((change) => this.#applyRemote(change));
  }

  /**
   * Starts the one timer that sends idle users to unavailable and gone ones to offline: a sweep
   * over the users this process owns, a few times per timeout rather than a timer per request.
   */
  start(): void {
    const every = Math.min(10_000, Math.max(100, Math.min(this.#timeouts.idleMs, this.#timeouts.offlineMs) / 4));
    this.#timer = setInterval(() => this.sweep().catch((err: unknown) => this.#log?.warn({ err }, 'presence timers failed')), every);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** Called after each change (not a repeat) of a user's presence made on this process. */
  onChange(listener: (userId: string, content: PresenceContent) => void): void {
    this.#listeners.push(listener);
  }

  /** PUT /presence: the user says what they are. */
  async set(userId: string, presence: PresenceState, statusMsg: string | undefined): Promise<void> {
    const now = this.#now();
    const e = this.#entry(userId);
    // Saying what one is counts as activity, whatever is said.
    e.seen = now;
    e.active = now;
    await this.#update(userId, e, presence, statusMsg);
  }

  /**
   * A /sync with `set_presence` starts; the returned function ends it. `online` (the default)
   * brings an offline user online but leaves unavailable alone (a client syncing in the
   * background is not activity); `unavailable` sets it; `offline` leaves presence untouched.
   */
  async syncing(userId: string, setPresence: PresenceState): Promise<() => void> {
    if (setPresence === 'offline') return () => undefined;
    const now = this.#now();
    const e = this.#entry(userId);
    e.syncing++;
    e.seen = now;
    let target = e.presence;
    if (setPresence === 'unavailable') target = 'unavailable';
    else if (e.presence === 'offline') {
      target = 'online';
      e.active = now;
    }
    await this.#update(userId, e, target, e.statusMsg);
    return () => {
      e.syncing = Math.max(0, e.syncing - 1);
      e.seen = this.#now();
      // Another process took the user's timers while this sync ran (a PUT there, say): take them
      // back, or that process would count the user gone while their client syncs here.
      if (!e.local && e.presence !== 'offline') {
        this.#update(userId, e, e.presence, e.statusMsg).catch((err: unknown) => this.#log?.warn({ err, userId }, 'presence update failed'));
      }
    };
  }

  /**
   * The user did something (sent an event, typed, read): an unavailable user is online again.
   * Users offline stay so (a bridge's ghosts send without ever being present).
   */
  activity(userId: string): void {
    const e = this.#entries.get(userId);
    if (!e || e.presence === 'offline') return;
    const now = this.#now();
    e.active = now;
    e.seen = now;
    this.#update(userId, e, 'online', e.statusMsg).catch((err: unknown) => this.#log?.warn({ err, userId }, 'presence update failed'));
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
      if (e.changedAt === 0) continue;
      if (sinceSerial === undefined || e.changedAt > sinceSerial) out.push({ userId, content: contentOf(e, now) });
    }
    return out;
  }

  /** One pass of the timers (start() runs it periodically). */
  async sweep(): Promise<void> {
    const now = this.#now();
    for (const userId of [...this.#watched]) {
      const e = this.#entries.get(userId);
      if (!e || !e.local) {
        this.#watched.delete(userId);
        continue;
      }
      if (e.syncing === 0 && now - e.seen >= this.#timeouts.offlineMs) await this.#update(userId, e, 'offline', e.statusMsg);
      else if (e.presence === 'online' && now - e.active >= this.#timeouts.idleMs) await this.#update(userId, e, 'unavailable', e.statusMsg);
    }
  }

  #entry(userId: string): Entry {
    let e = this.#entries.get(userId);
    if (!e) {
      e = { presence: 'offline', statusMsg: undefined, active: 0, changedAt: 0, local: false, syncing: 0, seen: 0 };
      this.#entries.set(userId, e);
    }
    return e;
  }

  /** Applies a state on this process and tells the others when it changed or moved here. */
  async #update(userId: string, e: Entry, presence: PresenceState, statusMsg: string | undefined): Promise<void> {
    const changed = e.changedAt === 0 || e.presence !== presence || e.statusMsg !== statusMsg;
    const movedHere = !e.local;
    e.local = true;
    if (presence === 'offline') this.#watched.delete(userId);
    else this.#watched.add(userId);
    if (!changed && !movedHere) return;
    const relayed: PresenceChange = { user: userId, presence, statusMsg: statusMsg ?? null, active: e.active };
    if (!changed) {
      // Same state, new owner: the other processes stop their timers for this user.
      this.#bus?.publish({ presence: [relayed] });
      return;
    }
    e.presence = presence;
    e.statusMsg = statusMsg;
    e.changedAt = this.#clock.next();
    for (const listener of this.#listeners) listener(userId, this.get(userId));
    if (!this.#bus) return;
    const rooms = this.#db ? (await membershipsRepo.roomsOfUser(this.#db, userId, ['join'])).map((r) => r.room_id) : [];
    this.#bus.publish({ rooms, users: [userId], presence: [relayed] });
  }

  #applyRemote(change: Change): void {
    for (const p of change.presence ?? []) {
      const e = this.#entry(p.user);
      e.local = false;
      this.#watched.delete(p.user);
      e.active = Math.max(e.active, p.active);
      const statusMsg = p.statusMsg ?? undefined;
      if (e.changedAt !== 0 && e.presence === p.presence && e.statusMsg === statusMsg) continue;
      e.presence = p.presence;
      e.statusMsg = statusMsg;
      e.changedAt = this.#clock.next();
    }
  }
}

function contentOf(e: Entry, now: number): PresenceContent {
  const ago = Math.max(0, now - e.active);
  return {
    presence: e.presence,
    ...(e.active > 0 ? { last_active_ago: ago } : {}),
    ...(e.statusMsg !== undefined ? { status_msg: e.statusMsg } : {}),
    currently_active: e.presence === 'online' && ago < CURRENTLY_ACTIVE_MS,
  };
}
