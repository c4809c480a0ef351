import type { ConnectionOptions } from 'node:tls';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from '../../logger.ts';
import {
  PermanentChannelError,
  TransientChannelError,
  type ChannelAdapter,
  type ChannelHealth,
  type Delivery,
  type SendResult,
} from './channel.ts';
import { composeEmail } from './email-message.ts';

export interface EmailChannelOptions {
  /** smtp://user:pass@host:587 (STARTTLS when offered) or smtps://user:pass@host:465 */
  smtpUrl: string;
  /** "Tocsin <alertes@example.org>" */
  from: string;
  /** Open SMTP connections at most (the pool); 5 by default, as nodemailer's. */
  maxConnections?: number;
  /** Extra TLS settings (a private CA, or a self-signed test server). */
  tls?: ConnectionOptions;
  connectionTimeoutMs?: number;
  logger?: Logger;
}

// A simple address check: the SMTP server has the last word, this only catches what is
// certainly not an address before a connection is spent on it.
const plausibleAddress = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;

// Errors nodemailer raises without an SMTP reply: the network or the server's state.
const networkCodes = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY', 'EMAXLIMIT']);

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
}

/** 4xx and network failures may pass later; 5xx will not. */
export function classifySmtpError(err: unknown): TransientChannelError | PermanentChannelError {
  const e = err as SmtpError;
  const reply = e.responseCode;
  const what = e.response ?? e.message ?? String(err);
  if (typeof reply === 'number' && reply >= 500) return new PermanentChannelError(`SMTP ${reply}: ${what}`);
  if (typeof reply === 'number' && reply >= 400) return new TransientChannelError(`SMTP ${reply}: ${what}`);
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE') return new PermanentChannelError(`SMTP: ${what}`);
  if (e.code && networkCodes.has(e.code)) return new TransientChannelError(`SMTP ${e.code}: ${what}`);
  // Unknown causes are retried: the engine bounds retries, and a lost alert costs more.
  return new TransientChannelError(`SMTP: ${what}`);
}

export class EmailChannel implements ChannelAdapter {
  readonly name = 'email' as const;
  readonly #from: string;
  readonly #transport: Transporter;
  readonly #logger: Logger | undefined;

  constructor(options: EmailChannelOptions) {
    this.#from = options.from;
    this.#logger = options.logger;
    const timeout = options.connectionTimeoutMs ?? 15_000;
    // nodemailer reads user, password, host, port and smtps:// (implicit TLS) from the URL;
    // plain smtp:// upgrades with STARTTLS whenever the server offers it.
    this.#transport = nodemailer.createTransport({
      url: options.smtpUrl,
      pool: true,
      maxConnections: options.maxConnections ?? 5,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout * 4,
      ...(options.tls ? { tls: options.tls } : {}),
    });
  }

  async send(delivery: Delivery): Promise<SendResult> {
    const to = delivery.recipient.email?.trim();
    if (!to) throw new PermanentChannelError('recipient has no email address');
    if (!plausibleAddress.test(to)) throw new PermanentChannelError('recipient email address is not valid');
    const content = composeEmail(delivery, this.#from);
    try {
      await this.#transport.sendMail({
        from: this.#from,
        to: { name: delivery.recipient.displayName, address: to },
        subject: content.subject,
        text: content.text,
        html: content.html,
        headers: content.headers,
        messageId: content.messageId,
      });
    } catch (err) {
      const classified = classifySmtpError(err);
      this.#logger?.warn({ deliveryId: delivery.deliveryId, err: classified.message }, 'email delivery failed');
      throw classified;
    }
    return { state: 'sent', externalId: content.messageId };
  }

  async health(): Promise<ChannelHealth> {
    try {
      await this.#transport.verify();
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: classifySmtpError(err).message };
    }
  }

  async close(): Promise<void> {
    this.#transport.close();
  }
}
