/**
 * The run loop of a background worker that polls the database and is woken by the bus: one
 * run at a time; wake() starts a run now, or marks the run under way to go round again (so a
 * wake-up that arrives during a run is never lost); each run says when the next is due; stop()
 * waits for the run under way. Shared by the alert engine, the push rule worker, the push
 * gateway sender and the application-service transaction sender.
 */
/** After a run that threw (runs catch their own errors: this is the safety net). */
const AFTER_FAILURE_MS = 1000;

export class WakeLoop {
  readonly #run: () => Promise<number>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  /** `run` does one pass and returns the delay before the next one, in ms. */
  constructor(run: () => Promise<number>) {
    this.#run = run;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Whether a wake-up (or the run itself, with `goAgain`) asked for another pass. */
  get again(): boolean {
    return this.#again;
  }

  /** A pass starts: wake-ups from now on ask for the next one. */
  clearAgain(): void {
    this.#again = false;
  }

  /** The run knows more work is waiting: the next pass starts at once. */
  goAgain(): void {
    this.#again = true;
  }

  start(): void {
    this.#schedule(0);
  }

  /** New work may be due: run now (or right after the current run). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) this.#again = true;
    else this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.#run().then(
        (next) => {
          this.#running = undefined;
          // A wake() that came after the run's last claim is not left waiting for the poll.
          this.#schedule(this.#again ? 0 : next);
        },
        () => {
          // Runs handle their own errors; a throw here is a bug, not a reason to stop polling.
          this.#running = undefined;
          this.#schedule(this.#again ? 0 : AFTER_FAILURE_MS);
        },
      );
    }, ms);
    this.#timer.unref();
  }
}
