import type { NotifyBus } from '../../notify/bus.ts';

/**
 * Typing notifications live in memory only: they are worth a few seconds. Each change bumps a
 * serial that is the second part of sync tokens.
 */
export class TypingService {
  #serial = 0;
  // room -> user -> expiry (ms since epoch)
  #typing = new Map<string, Map<string, number>>();
  #changedAt = new Map<string, number>();
  readonly #bus: NotifyBus;
  #timer: NodeJS.Timeout;

  constructor(bus: NotifyBus) {
    this.#bus = bus;
    this.#timer = setInterval(() => this.#expire(), 1000);
    this.#timer.unref();
  }

  get serial(): number {
    return this.#serial;
  }

  setTyping(roomId: string, userId: string, typing: boolean, timeoutMs: number): void {
    let users = this.#typing.get(roomId);
    const was = users?.has(userId) ?? false;
    if (typing) {
      if (!users) this.#typing.set(roomId, (users = new Map()));
      users.set(userId, Date.now() + Math.min(Math.max(timeoutMs, 0), 120_000));
      if (!was) this.#changed(roomId);
    } else if (was) {
      users!.delete(userId);
      this.#changed(roomId);
    }
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
    this.#changedAt.set(roomId, ++this.#serial);
    this.#bus.publish({ rooms: [roomId] });
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
