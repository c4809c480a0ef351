// The throughput window an SMSC contract sets: at most N submit_sm awaiting their response,
// and at most R per second. Going over either makes the SMSC answer ESME_RTHROTTLED or drop
// the session, so the client holds back on its own.

export interface SubmitWindowOptions {
  maxInFlight: number;
  perSecond: number;
  /** The clock, replaceable so that tests check the spacing without measuring time. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class WindowClosedError extends Error {}

export class SubmitWindow {
  readonly #maxInFlight: number;
  readonly #spacingMs: number;
  #inFlight = 0;
  #nextAt = 0;
  #waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  #closed = false;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: SubmitWindowOptions) {
    this.#maxInFlight = Math.max(1, Math.floor(options.maxInFlight));
    // Evenly spaced rather than bursts: SMSCs often count per second with a sliding window.
    this.#spacingMs = 1000 / Math.max(options.perSecond, 0.001);
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? realSleep;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Waits for a slot and for the rate; the returned function gives the slot back. */
  async acquire(): Promise<() => void> {
    if (this.#closed) throw new WindowClosedError('submit window closed');
    if (this.#inFlight >= this.#maxInFlight) {
      await new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    } else {
      this.#inFlight += 1;
    }
    const now = this.#now();
    const at = Math.max(now, this.#nextAt);
    this.#nextAt = at + this.#spacingMs;
    if (at > now) await this.#sleep(at - now);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#release();
    };
  }

  /** Holds every submit back for a while, after the SMSC said it is overloaded. */
  pause(ms: number): void {
    this.#nextAt = Math.max(this.#nextAt, this.#now() + ms);
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(new WindowClosedError('submit window closed'));
  }

  #release(): void {
    const next = this.#waiters.shift();
    // The slot passes straight to the next waiter: the in-flight count does not change.
    if (next) next.resolve();
    else this.#inFlight -= 1;
  }
}
