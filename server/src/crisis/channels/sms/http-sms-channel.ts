import { Agent, request, type Dispatcher } from 'undici';
import type { Logger } from '../../../logger.ts';
import {
  PermanentChannelError,
  TransientChannelError,
  type ChannelAdapter,
  type ChannelHealth,
  type Delivery,
  type SendResult,
} from '../channel.ts';
import { parseRetryAfter } from '../retry-after.ts';
import { isE164 } from './phone.ts';
import { composeSms } from './sms-text.ts';

// A generic HTTP SMS gateway, for providers that do not offer SMPP: one JSON POST per SMS,
//   POST url  Authorization: Bearer <token>
//   {"to": "+33612345678", "from": "TOCSIN", "text": "...", "reference": "<delivery id>"}
// answered 2xx (with the provider's message id as "id" when it has one). The reference lets the
// provider drop a retried duplicate, and comes back in its receipts (see inbound-sms.ts).

export interface HttpSmsChannelOptions {
  url: string;
  token: string;
  source: string;
  maxSegments?: number;
  timeoutMs?: number;
  /** For tests or a proxy; a keep-alive agent by default. */
  dispatcher?: Dispatcher;
  logger?: Logger;
}

export class HttpSmsChannel implements ChannelAdapter {
  readonly name = 'sms' as const;
  readonly #o: HttpSmsChannelOptions;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;

  constructor(options: HttpSmsChannelOptions) {
    this.#o = options;
    this.#ownsDispatcher = !options.dispatcher;
    this.#dispatcher = options.dispatcher ?? new Agent({ keepAliveTimeout: 30_000, connections: 16 });
  }

  async send(delivery: Delivery): Promise<SendResult> {
    const to = delivery.recipient.phone?.trim();
    if (!to) throw new PermanentChannelError('recipient has no phone number');
    if (!isE164(to)) throw new PermanentChannelError('recipient phone number is not E.164');
    const body = JSON.stringify({
      to,
      from: this.#o.source,
      text: composeSms(delivery, { maxSegments: this.#o.maxSegments ?? 1 }),
      reference: delivery.deliveryId,
    });
    const timeout = this.#o.timeoutMs ?? 15_000;
    let response: Dispatcher.ResponseData;
    try {
      response = await request(this.#o.url, {
        method: 'POST',
        dispatcher: this.#dispatcher,
        headers: { authorization: `Bearer ${this.#o.token}`, 'content-type': 'application/json', accept: 'application/json' },
        body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
    } catch (err) {
      throw new TransientChannelError(`SMS gateway unreachable: ${(err as Error).message}`);
    }
    const status = response.statusCode;
    const text = await response.body.text().catch(() => '');
    if (status >= 200 && status < 300) {
      const id = providerId(text);
      return id === undefined ? { state: 'sent' } : { state: 'sent', externalId: id };
    }
    const what = `SMS gateway answered ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
    this.#o.logger?.warn({ deliveryId: delivery.deliveryId, status }, 'SMS gateway refused');
    if (status === 429 || status >= 500 || status === 408) {
      throw new TransientChannelError(what, parseRetryAfter(response.headers['retry-after']));
    }
    throw new PermanentChannelError(what);
  }

  /** A gateway has no standard health call: this checks that it answers at all (any status). */
  async health(): Promise<ChannelHealth> {
    try {
      const response = await request(this.#o.url, {
        method: 'HEAD',
        dispatcher: this.#dispatcher,
        headers: { authorization: `Bearer ${this.#o.token}` },
        headersTimeout: 5000,
      });
      await response.body.dump();
      if (response.statusCode === 401 || response.statusCode === 403) return { ok: false, detail: `gateway refused the token (${response.statusCode})` };
      return { ok: response.statusCode < 500, detail: `gateway answered ${response.statusCode}` };
    } catch (err) {
      return { ok: false, detail: `gateway unreachable: ${(err as Error).message}` };
    }
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}

function providerId(text: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && 'id' in parsed) {
      const id = (parsed as { id: unknown }).id;
      if (typeof id === 'string' || typeof id === 'number') return String(id);
    }
  } catch {
    // A 2xx without JSON is still a success; there is just no id to match receipts with.
  }
  return undefined;
}
