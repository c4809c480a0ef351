import webpush from 'web-push';
import type { VapidKeys } from './vapid-keys.ts';

// A VAPID JWT (RFC 8292) names the push service's origin and an expiry of at most 24 h; it
// does not depend on the message. Signing one per message (ECDSA, ~0.5 ms) was most of the
// cost of a push: one per origin is signed and reused until shortly before it expires.

export interface VapidCacheOptions {
  keys: VapidKeys;
  /** mailto: or https: contact for the push service operators. */
  subject: string;
  /** Lifetime of a JWT; 12 h by default, 24 h at most (RFC 8292 section 2). */
  validitySeconds?: number;
  now?: () => number;
}

/** Push services are few (FCM, Mozilla, Apple, Microsoft); a cap keeps hostile endpoints from growing the map. */
const MAX_ORIGINS = 1000;

export class VapidCache {
  readonly #o: VapidCacheOptions;
  readonly #validity: number;
  readonly #byOrigin = new Map<string, { header: string; renewAt: number }>();

  constructor(options: VapidCacheOptions) {
    this.#o = options;
    this.#validity = Math.min(options.validitySeconds ?? 12 * 3600, 24 * 3600 - 60);
    // Fails at start rather than at the first alert when the subject is not a URL.
    webpush.getVapidHeaders('https://push.example', options.subject, options.keys.publicKey, options.keys.privateKey, 'aes128gcm');
  }

  /** The Authorization header value for an endpoint: `vapid t=<JWT>, k=<public key>`. */
  authorization(endpoint: URL): string {
    const now = (this.#o.now ?? Date.now)();
    const origin = endpoint.origin;
    const cached = this.#byOrigin.get(origin);
    if (cached && now < cached.renewAt) return cached.header;
    const expiry = Math.floor(now / 1000) + this.#validity;
    const { Authorization } = webpush.getVapidHeaders(origin, this.#o.subject, this.#o.keys.publicKey, this.#o.keys.privateKey, 'aes128gcm', expiry);
    if (this.#byOrigin.size >= MAX_ORIGINS && !cached) this.#byOrigin.delete(this.#byOrigin.keys().next().value!);
    // Renewed with a tenth of its life left, so that a push in flight never carries an expired one.
    this.#byOrigin.set(origin, { header: Authorization, renewAt: now + this.#validity * 900 });
    return Authorization;
  }
}
