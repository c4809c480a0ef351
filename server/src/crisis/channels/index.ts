import type { Knex } from 'knex';
import { ConfigError } from '../../config/config.ts';
import type { Logger } from '../../logger.ts';
import type { ChannelAdapter, ChannelEvents, ChannelHealth, ChannelName } from './channel.ts';
import { validateChannelsConfig, type ChannelsConfig } from './channels-config.ts';
import { EmailChannel } from './email-channel.ts';
import { OutboundGuard } from './outbound-guard.ts';
import { HttpSmsChannel } from './sms/http-sms-channel.ts';
import { handleInboundSms, type InboundSms } from './sms/inbound-sms.ts';
import { SmsMessageIdStore } from './sms/message-id-store.ts';
import { SmppChannel } from './sms/smpp-channel.ts';
import { loadOrCreateVapidKeys, validateVapidKeys, type VapidKeys } from './webpush/vapid-keys.ts';
import { WebPushChannel } from './webpush/webpush-channel.ts';

// Builds the delivery channels the configuration asks for: email when channels.email is set,
// SMS over SMPP or an HTTP gateway when channels.sms is, and web push always (its keys live in
// DATA_DIR). The Matrix channel needs the homeserver's services and is built beside these.

export type { ChannelsConfig } from './channels-config.ts';
export { validateChannelsConfig } from './channels-config.ts';

export interface ChannelDeps {
  dataDir: string;
  db: Knex;
  events: ChannelEvents;
  /** PUBLIC_BASEURL: the VAPID subject when channels.webpush.subject is not set (if https). */
  publicBaseUrl?: string;
  /** outbound_allow_ranges from the config file. */
  outboundAllowRanges?: readonly string[];
  logger?: Logger;
}

export interface Channels {
  readonly adapters: ReadonlyMap<ChannelName, ChannelAdapter>;
  /** For GET /_tocsin/v1/push/vapid. */
  readonly vapidPublicKey: string;
  readonly config: ChannelsConfig;
  get(name: ChannelName): ChannelAdapter | undefined;
  /** For the HTTP SMS gateway's webhook route: parses its JSON body and reports to the engine. */
  handleInboundSms(body: unknown): Promise<InboundSms>;
  health(): Promise<Partial<Record<ChannelName, ChannelHealth>>>;
  close(): Promise<void>;
}

function defaultSubject(publicBaseUrl: string | undefined): string {
  if (publicBaseUrl?.startsWith('https://')) return publicBaseUrl;
  const host = publicBaseUrl ? new URL(publicBaseUrl).hostname : 'localhost';
  return `mailto:postmaster@${host}`;
}

async function vapidKeys(config: ChannelsConfig, dataDir: string): Promise<VapidKeys> {
  const w = config.webpush;
  if (w?.public_key && w.private_key) {
    try {
      return validateVapidKeys({ publicKey: w.public_key, privateKey: w.private_key });
    } catch (err) {
      throw new ConfigError(`channels.webpush.public_key: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return loadOrCreateVapidKeys(dataDir);
}

export async function buildChannels(section: unknown, deps: ChannelDeps): Promise<Channels> {
  const config = validateChannelsConfig(section);
  const allowRanges = deps.outboundAllowRanges ?? [];
  try {
    new OutboundGuard(allowRanges);
  } catch (err) {
    throw new ConfigError(`outbound_allow_ranges: ${(err as Error).message}`);
  }
  const logger = deps.logger;
  const adapters = new Map<ChannelName, ChannelAdapter>();

  const keys = await vapidKeys(config, deps.dataDir);
  adapters.set('webpush', new WebPushChannel({
    db: deps.db,
    keys,
    subject: config.webpush?.subject ?? defaultSubject(deps.publicBaseUrl),
    allowRanges,
    ...(config.webpush?.connections_per_origin ? { connectionsPerOrigin: config.webpush.connections_per_origin } : {}),
    ...(config.webpush?.encryption_threads !== undefined ? { encryptionThreads: config.webpush.encryption_threads } : {}),
    ...(logger ? { logger } : {}),
  }));

  if (config.email) {
    adapters.set('email', new EmailChannel({
      smtpUrl: config.email.smtp_url,
      from: config.email.from,
      ...(config.email.max_connections ? { maxConnections: config.email.max_connections } : {}),
      ...(config.email.ca ? { tls: { ca: config.email.ca } } : {}),
      ...(logger ? { logger } : {}),
    }));
  }

  const smpp = config.sms?.smpp;
  const http = config.sms?.http;
  if (smpp) {
    const channel = new SmppChannel({
      url: smpp.url,
      source: smpp.source,
      events: deps.events,
      ...(smpp.max_in_flight ? { maxInFlight: smpp.max_in_flight } : {}),
      ...(smpp.messages_per_second ? { messagesPerSecond: smpp.messages_per_second } : {}),
      ...(smpp.enquire_link_s ? { enquireLinkMs: smpp.enquire_link_s * 1000 } : {}),
      ...(smpp.concatenation ? { concatenation: smpp.concatenation } : {}),
      ...(smpp.max_segments ? { maxSegments: smpp.max_segments } : {}),
      ...(smpp.country_code ? { countryCode: smpp.country_code } : {}),
      ...(smpp.system_type ? { systemType: smpp.system_type } : {}),
      messageIds: new SmsMessageIdStore(deps.db, logger),
      ...(logger ? { logger } : {}),
    });
    // Bound from the start: replies and receipts arrive even before the first alert.
    channel.start();
    adapters.set('sms', channel);
  } else if (http) {
    adapters.set('sms', new HttpSmsChannel({
      url: http.url,
      token: http.token,
      source: http.source ?? 'TOCSIN',
      ...(http.max_segments ? { maxSegments: http.max_segments } : {}),
      ...(logger ? { logger } : {}),
    }));
  }

  return {
    adapters,
    vapidPublicKey: keys.publicKey,
    config,
    get: (name) => adapters.get(name),
    handleInboundSms: (body) => handleInboundSms(body, deps.events, http?.country_code ? { countryCode: http.country_code } : {}),
    health: async () => {
      const entries = await Promise.all([...adapters].map(async ([name, a]) => [name, await a.health()] as const));
      return Object.fromEntries(entries);
    },
    close: async () => {
      await Promise.all([...adapters.values()].map((a) => a.close()));
    },
  };
}
