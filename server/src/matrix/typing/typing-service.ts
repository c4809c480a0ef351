import type { Change, NotifyBus } from '../../notify/bus.ts';
import { EphemeralClock } from '../../notify/ephemeral-clock.ts';

/**
 * Typing notifications live in memory only: they are worth a few seconds. Each change bumps a
 * serial that is the second part of sync tokens. Several processes behind a load balancer
 * relay their changes to each other through the bus (PostgreSQL NOTIFY), and the serial is a
 * millisecond clock, so that a token made by one process means the same moment to another.
 */
export class TypingService {
  readonly #clock: EphemeralClock;
  // room -> user -> expiry (ms since epoch)
  #typing = new Map<string, Map<string, number>>();
  #changedAt = new Map<string, number>();
  readonly #bus: NotifyBus;
  #timer: NodeJS.Timeout;

  constructor(bus: NotifyBus, clock: EphemeralClock = new EphemeralClock()) {
    this.#bus = bus;
    this.#clock = clock;
    this.#timer = setInterval(() => this.#expire(), 1000);
    this.#timer.unref();
    bus.onRemotePublish((change) => this.#applyRemote(change));
  }

  /** The ephemeral clock's current serial (typing and presence share it). */
  get serial(): number {
    return this.#clock.current;
  }

  setTyping(roomId: string, userId: string, typing: boolean, timeoutMs: number): void {
    const until = typing ? Date.now() + Math.min(Math.max(timeoutMs, 0), 120_000) : 0;
    if (this.#set(roomId, userId, until)) this.#bus.publish({ rooms: [roomId], typing: [{ room: roomId, user: userId, until }] });
  }

  /** Records the change; true when the room's list of typing users changed. */
  #set(roomId: string, userId: string, until: number): boolean {
    let users = this.#typing.get(roomId);
    const was = users?.has(userId) ?? false;
    if (until > Date.now()) {
      if (!users) this.#typing.set(roomId, (users = new Map()));
      users.set(userId, until);
      if (was) return false;
    } else if (was) {
      users!.delete(userId);
      if (users!.size === 0) this.#typing.delete(roomId);
    } else {
      return false;
    }
    this.#changedAt.set(roomId, this.#nextSerial());
    return true;
  }

  #applyRemote(change: Change): void {
    for (const t of change.typing ?? []) this.#set(t.room, t.user, t.until);
  }

  #nextSerial(): number {
    return this.#clock.next();
  }

  /** Users typing in the room, when it changed after `sinceSerial` (or always when undefined). */
  typingIn(roomId: string, sinceSerial: number | undefined): string[] | undefined {
    if (sinceSerial !== undefined && (this.#changedAt.get(roomId) ?? 0) <= sinceSerial) return undefined;
    return [...(this.#typing.get(roomId)?.keys() ?? [])];
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #changed(roomId: string): void {
    // Expiry happens in every process on its own: nothing to relay.
    this.#changedAt.set(roomId, this.#nextSerial());
    this.#bus.publishRemote({ rooms: [roomId] });
  }

  #expire(): void {
    const now = Date.now();
    for (const [roomId, users] of this.#typing) {
      let changed = false;
      for (const [user, until] of users) {
        if (until <= now) {
          users.delete(user);
          changed = true;
        }
      }
      if (users.size === 0) this.#typing.delete(roomId);
      if (changed) this.#changed(roomId);
    }
  }
}
