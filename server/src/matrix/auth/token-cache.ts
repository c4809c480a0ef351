import type { Requester } from '../../http/route.ts';

/**
 * Access tokens resolved recently, so that a client long-polling /sync (one request per event
 * of its rooms) does not cost a database query per request. An entry lives `ttlMs` at most:
 * a token revoked by another process (the CLI, another node) stops working within that time;
 * one revoked through this process stops at once (forgetUser). A lookup that ran while a
 * revocation happened is not cached (the generation changed under it).
 */
export class TokenCache {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, { requester: Requester; expires: number }>();
  #generation = 0;

  constructor(ttlMs: number, max = 50_000) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  /** Read before looking a token up in the database; give it back to set(). */
  get generation(): number {
    return this.#generation;
  }

  get(tokenHash: string): Requester | undefined {
    const entry = this.#entries.get(tokenHash);
    if (!entry) return undefined;
    if (entry.expires <= Date.now()) {
      this.#entries.delete(tokenHash);
      return undefined;
    }
    return { ...entry.requester };
  }

  set(tokenHash: string, requester: Requester, generationBefore: number): void {
    if (this.#ttlMs <= 0 || generationBefore !== this.#generation) return;
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(tokenHash, { requester: { ...requester }, expires: Date.now() + this.#ttlMs });
  }

  /** Drops every cached token of a user (logout, password change, deactivation, new login). */
  forgetUser(userId: string): void {
    this.#generation++;
    for (const [hash, entry] of this.#entries) if (entry.requester.userId === userId) this.#entries.delete(hash);
  }
}
