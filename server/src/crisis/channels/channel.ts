// The contract between the alert engine and each delivery channel (Matrix, web push, email,
// SMS). The engine decides who gets what and when; an adapter only knows how to hand one
// message to its transport and how to tell a transient failure from a permanent one.

export type ChannelName = 'matrix' | 'webpush' | 'email' | 'sms';
export type Severity = 'info' | 'warning' | 'critical';

/** What an adapter needs to deliver one step of one alert to one person. */
export interface Delivery {
  /** Unique per (alert, recipient, step, channel): lets a transport deduplicate retries. */
  deliveryId: string;
  alert: {
    alertId: string;
    severity: Severity;
    title: string;
    /** The short text: fits one SMS with the link and reply code. */
    body: string;
    drill: boolean;
    createdAt: number;
  };
  recipient: {
    userId: string;
    displayName: string;
    email?: string | undefined;
    /** E.164, e.g. +33612345678 */
    phone?: string | undefined;
    /** Preferred language, e.g. 'fr' or 'en' (defaults to fr). */
    language?: string | undefined;
  };
  /** Signed link that opens the no-JavaScript acknowledgement page (GET) and acknowledges (POST). */
  ackUrl: string;
  /** The per-delivery token inside ackUrl, also sent in the push payload for the notification action. */
  ackToken: string;
  /** Short code the recipient may add to an SMS reply ("OK 4821"). */
  replyCode: string;
}

export interface SendResult {
  /** 'delivered' when the transport confirmed delivery synchronously; 'sent' otherwise. */
  state: 'sent' | 'delivered';
  /** The transport's id (SMPP message_id, SMTP message-id), to match later delivery receipts. */
  externalId?: string;
}

/** A failure worth retrying later (network down, 429, SMSC throttling). */
export class TransientChannelError extends Error {
  readonly retryAfterMs: number | undefined;

  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** A failure that retrying cannot fix (no address, rejected number, 404/410 subscription). */
export class PermanentChannelError extends Error {}

export interface ChannelHealth {
  ok: boolean;
  detail?: string;
}

export interface ChannelAdapter {
  readonly name: ChannelName;
  /**
   * A batch of deliveries is about to be sent (each through send): an adapter may fetch what
   * they need in one go rather than one query per send. Optional; must not throw.
   */
  prepare?(deliveries: readonly Delivery[]): void;
  /** Hands the message over; throws TransientChannelError or PermanentChannelError. */
  send(delivery: Delivery): Promise<SendResult>;
  health(): Promise<ChannelHealth>;
  close(): Promise<void>;
}

/**
 * Reports that arrive later from a transport: delivery receipts and replies (SMS "OK").
 * The alert engine implements it; adapters call it.
 */
export interface ChannelEvents {
  /**
   * A delivery receipt for the message the transport knows as externalId; deliveryId when the
   * adapter could tell which delivery it carried (SMPP keeps that map in the database).
   */
  delivered(channel: ChannelName, externalId: string, ok: boolean, detail?: string, deliveryId?: string): Promise<void>;
  /** An inbound text from a phone number (E.164). */
  reply(channel: ChannelName, from: string, text: string): Promise<void>;
}
