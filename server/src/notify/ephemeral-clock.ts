/**
 * The serial of in-memory changes that sync tokens carry beside the stream position (their
 * second part): typing and presence. One clock for both, so that one number in the token orders
 * every such change. It is a millisecond clock that never goes back, so that a token made by one
 * process means about the same moment to another.
 */
export class EphemeralClock {
  #serial = 0;

  get current(): number {
    return this.#serial;
  }

  next(): number {
    this.#serial = Math.max(this.#serial + 1, Date.now());
    return this.#serial;
  }
}
