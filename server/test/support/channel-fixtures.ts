import type { ChannelEvents, ChannelName, Delivery } from '../../src/crisis/channels/channel.ts';

// A delivery as the alert engine would hand it to a channel, and a ChannelEvents that records
// what the channels report back, for the channel tests and the integration tests after them.

type DeliveryOverrides = Partial<Omit<Delivery, 'alert' | 'recipient'>> & {
  alert?: Partial<Delivery['alert']>;
  recipient?: Partial<Delivery['recipient']>;
};

let counter = 0;

export function makeDelivery(overrides: DeliveryOverrides = {}): Delivery {
  counter += 1;
  const token = overrides.ackToken ?? `tok${counter}AbCdEfGhIjKlMnOpQrStUvWxYz0123456789`;
  return {
    deliveryId: overrides.deliveryId ?? `d-${counter}-${Date.now()}`,
    alert: {
      alertId: `al_${counter}`,
      severity: 'critical',
      title: 'Inondation du site Nord',
      body: 'Évacuez le bâtiment B par la sortie est. Rendez-vous au parking.',
      drill: false,
      createdAt: Date.now(),
      ...overrides.alert,
    },
    recipient: {
      userId: '@alice:localhost',
      displayName: 'Alice Martin',
      email: 'alice@example.org',
      phone: '+33612345678',
      language: 'fr',
      ...overrides.recipient,
    },
    ackUrl: overrides.ackUrl ?? `https://tocsin.example.org/_tocsin/v1/ack/${token}`,
    ackToken: token,
    replyCode: overrides.replyCode ?? '4821',
  };
}

export interface DeliveredReport {
  channel: ChannelName;
  externalId: string;
  ok: boolean;
  detail: string | undefined;
  /** The delivery the adapter matched the message to, when it could tell. */
  deliveryId?: string;
}

export interface ReplyReport {
  channel: ChannelName;
  from: string;
  text: string;
}

/** Records receipts and replies; a test awaits them with waitFor. */
export class RecordingEvents implements ChannelEvents {
  readonly deliveredReports: DeliveredReport[] = [];
  readonly replies: ReplyReport[] = [];
  /** When set, the next calls fail, as a database outage would. */
  failing = false;
  #waiters: (() => void)[] = [];

  async delivered(channel: ChannelName, externalId: string, ok: boolean, detail?: string, deliveryId?: string): Promise<void> {
    if (this.failing) throw new Error('events store unavailable');
    this.deliveredReports.push({ channel, externalId, ok, detail, ...(deliveryId !== undefined ? { deliveryId } : {}) });
    this.#wake();
  }

  async reply(channel: ChannelName, from: string, text: string): Promise<void> {
    if (this.failing) throw new Error('events store unavailable');
    this.replies.push({ channel, from, text });
    this.#wake();
  }

  async waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for channel events');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
