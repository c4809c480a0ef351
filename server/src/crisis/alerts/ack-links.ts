import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * Acknowledgement tokens: `<delivery id in base 36>.<HMAC>` signed with a secret shared by all
 * nodes. Nothing is stored per token, a token cannot be forged or moved to another delivery,
 * and it stays short enough for an SMS.
 */
export class AckLinks {
  // A key object: HMAC with a raw Buffer key costs several times more on Node 24 (a fan-out
  // signs one token per delivery).
  readonly #secret: KeyObject;
  readonly #baseUrl: string;

  constructor(secret: Buffer, publicBaseUrl: string) {
    this.#secret = createSecretKey(secret);
    this.#baseUrl = publicBaseUrl;
  }

  token(deliveryId: number): string {
    const id = deliveryId.toString(36);
    return `${id}.${this.#mac(id)}`;
  }

  url(deliveryId: number): string {
    return this.urlOf(this.token(deliveryId));
  }

  /** The link of a token already made (saves signing it twice). */
  urlOf(token: string): string {
    return `${this.#baseUrl}/ack/${token}`;
  }

  /** The delivery id a token stands for, or undefined for anything forged or malformed. */
  verify(token: string): number | undefined {
    const m = /^([0-9a-z]{1,11})\.([A-Za-z0-9_-]{16})$/.exec(token);
    if (!m) return undefined;
    const expected = Buffer.from(this.#mac(m[1]!));
    const given = Buffer.from(m[2]!);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    const id = parseInt(m[1]!, 36);
    return Number.isSafeInteger(id) ? id : undefined;
  }

  #mac(id: string): string {
    return createHmac('sha256', this.#secret).update(`ack:${id}`).digest().subarray(0, 12).toString('base64url');
  }
}
