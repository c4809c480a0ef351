import type { Knex } from 'knex';
import { Agent, type Dispatcher } from 'undici';
import type { Logger } from '../../../logger.ts';
import {
  PermanentChannelError,
  TransientChannelError,
  type ChannelAdapter,
  type ChannelHealth,
  type Delivery,
  type SendResult,
} from '../channel.ts';
import { OutboundGuard } from '../outbound-guard.ts';
import { parseRetryAfter } from '../retry-after.ts';
import { defaultEncryptionThreads, EncryptPool } from './encrypt-pool.ts';
import { buildPushPayload, topicFor } from './push-payload.ts';
import { postPush, type PushResponse } from './push-request.ts';
import { SubscriptionLoader } from './subscription-loader.ts';
import { removePushSubscription, type PushSubscriptionRow } from './subscriptions.ts';
import { VapidCache } from './vapid-cache.ts';
import type { VapidKeys } from './vapid-keys.ts';

// Web push (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID) to every browser a
// recipient subscribed. web-push signs the VAPID JWT (cached per origin, vapid-cache.ts),
// aes128gcm.ts encrypts; requests go through one keep-alive undici agent with a bounded number
// of connections per push service, so that a fan-out to thousands reuses a few TLS connections
// instead of opening one per message.

export interface WebPushChannelOptions {
  db: Knex;
  keys: VapidKeys;
  /** channels.webpush.subject: mailto: or https: */
  subject: string;
  /** outbound_allow_ranges: private addresses push endpoints may point to (none by default). */
  allowRanges?: readonly string[];
  /**
   * Connections per push service origin (32 by default). Real push services speak HTTP/2,
   * which undici multiplexes (up to 100 streams a connection); over HTTP/1.1 each connection
   * carries one request at a time, so this bounds the messages in flight per service.
   */
  connectionsPerOrigin?: number;
  timeoutMs?: number;
  jwtValiditySeconds?: number;
  /** Threads that encrypt (channels.webpush.encryption_threads); 0 encrypts on the main thread. */
  encryptionThreads?: number;
  logger?: Logger;
}

type Outcome =
  | { kind: 'sent'; location: string | undefined }
  | { kind: 'gone' }
  | { kind: 'retry'; why: string; retryAfterMs: number | undefined }
  | { kind: 'refused'; why: string };

export class WebPushChannel implements ChannelAdapter {
  readonly name = 'webpush' as const;
  readonly #o: WebPushChannelOptions;
  readonly #vapid: VapidCache;
  readonly #guard: OutboundGuard;
  readonly #agent: Dispatcher;
  readonly #subscriptions: SubscriptionLoader;
  readonly #encryption: EncryptPool;

  constructor(options: WebPushChannelOptions) {
    this.#o = options;
    this.#vapid = new VapidCache({ keys: options.keys, subject: options.subject, validitySeconds: options.jwtValiditySeconds });
    this.#guard = new OutboundGuard(options.allowRanges ?? []);
    this.#subscriptions = new SubscriptionLoader(options.db);
    this.#encryption = new EncryptPool(options.encryptionThreads ?? defaultEncryptionThreads());
    this.#agent = new Agent({
      connections: options.connectionsPerOrigin ?? 32,
      keepAliveTimeout: 60_000,
      connect: { lookup: this.#guard.lookup },
    });
  }

  get publicKey(): string {
    return this.#o.keys.publicKey;
  }

  prepare(deliveries: readonly Delivery[]): void {
    this.#subscriptions.prefetch(deliveries.map((d) => d.recipient.userId));
  }

  async send(delivery: Delivery): Promise<SendResult> {
    const subscriptions = await this.#subscriptions.load(delivery.recipient.userId);
    if (subscriptions.length === 0) throw new PermanentChannelError('recipient has no push subscription');
    const payload = Buffer.from(buildPushPayload(delivery));
    const critical = delivery.alert.severity === 'critical';
    const headers = {
      // A critical alert stale after an hour is better escalated than shown late.
      ttl: critical ? '3600' : '86400',
      urgency: critical ? 'high' : 'normal',
      topic: topicFor(delivery.alert.alertId),
      'content-encoding': 'aes128gcm',
      'content-type': 'application/octet-stream',
    };
    const outcomes = await Promise.all(subscriptions.map((s) => this.#push(s, payload, headers)));

    const sent = outcomes.find((o) => o.kind === 'sent');
    if (sent) return sent.location ? { state: 'sent', externalId: sent.location } : { state: 'sent' };
    const retries = outcomes.filter((o) => o.kind === 'retry');
    if (retries.length > 0) {
      const waits = retries.map((r) => r.retryAfterMs).filter((ms) => ms !== undefined);
      throw new TransientChannelError(`web push: ${retries[0]!.why}`, waits.length ? Math.max(...waits) : undefined);
    }
    if (outcomes.every((o) => o.kind === 'gone')) throw new PermanentChannelError('every push subscription of the recipient is gone');
    const refused = outcomes.find((o) => o.kind === 'refused');
    throw new PermanentChannelError(`web push refused: ${refused?.why ?? 'unknown'}`);
  }

  /** Nothing to connect to in advance: healthy when the keys and subject are usable. */
  async health(): Promise<ChannelHealth> {
    try {
      this.#vapid.authorization(new URL('https://push.example'));
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
    await this.#encryption.close();
  }

  async #push(subscription: PushSubscriptionRow, payload: Buffer, headers: Record<string, string>): Promise<Outcome> {
    let url: URL;
    let body: Buffer;
    try {
      url = new URL(subscription.endpoint);
      this.#guard.checkHost(url.hostname);
      // RFC 8291: a fresh ephemeral key and salt per message (aes128gcm.ts, on a pool thread).
      body = await this.#encryption.encrypt(subscription.p256dh, subscription.auth, payload);
    } catch (err) {
      return { kind: 'refused', why: (err as Error).message };
    }
    const timeout = this.#o.timeoutMs ?? 10_000;
    let response: PushResponse;
    try {
      response = await postPush(this.#agent, url, { ...headers, authorization: this.#vapid.authorization(url) }, body, timeout);
    } catch (err) {
      const e = err as Error & { code?: string; cause?: { code?: string } };
      if (e.code === 'EOUTBOUNDREFUSED' || e.cause?.code === 'EOUTBOUNDREFUSED') return { kind: 'refused', why: e.message };
      return { kind: 'retry', why: `${url.origin} unreachable (${e.code ?? e.message})`, retryAfterMs: undefined };
    }
    const status = response.status;
    if (status === 201 || status === 202 || status === 200) return { kind: 'sent', location: response.location };
    if (status === 404 || status === 410) {
      // The browser unsubscribed or the subscription expired: it will never work again.
      await removePushSubscription(this.#o.db, subscription.endpoint).catch((err: Error) =>
        this.#o.logger?.warn({ err: err.message }, 'could not remove a gone push subscription'),
      );
      return { kind: 'gone' };
    }
    if (status === 429 || status >= 500) {
      return { kind: 'retry', why: `${url.origin} answered ${status}`, retryAfterMs: parseRetryAfter(response.retryAfter) };
    }
    // 400, 401/403 (a VAPID key the subscription was not made with), 413: not fixed by retrying,
    // but not proof that the subscription is dead either, so it is kept.
    this.#o.logger?.warn({ origin: url.origin, status }, 'push service refused a message');
    return { kind: 'refused', why: `${url.origin} answered ${status}` };
  }
}
