import { limitExceeded } from '../errors.ts';

/**
 * Token bucket per key (an IP, a user). In memory and per node: it slows brute force and
 * floods; it is not an accounting system.
 */
export class RateLimiter {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #enabled: boolean;

  constructor(perSecond: number, burst: number, enabled = true) {
    this.#perSecond = perSecond;
    this.#burst = burst;
    this.#enabled = enabled;
  }

  /** Takes one token for `key` or throws M_LIMIT_EXCEEDED with the wait. */
  take(key: string, now = Date.now()): void {
    if (!this.#enabled) return;
    const b = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#perSecond);
    b.at = now;
    if (b.tokens < 1) {
      this.#buckets.set(key, b);
      throw limitExceeded(Math.ceil(((1 - b.tokens) / this.#perSecond) * 1000));
    }
    b.tokens -= 1;
    this.#buckets.set(key, b);
    if (this.#buckets.size > 100_000) this.#sweep(now);
  }

  #sweep(now: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.#perSecond >= this.#burst) this.#buckets.delete(key);
    }
  }
}
