import path from 'node:path';
import type { Knex } from 'knex';
import type { Config } from './config/config.ts';
import { RateLimiter } from './http/rate-limit.ts';
import type { Logger } from './logger.ts';
import { AccountDataService } from './matrix/account-data/account-data-service.ts';
import { AccountService } from './matrix/auth/accounts.ts';
import { UiaService, type StageVerifier } from './matrix/auth/uia.ts';
import type { SigningKey } from './matrix/events/signing.ts';
import { FsBlobStore } from './matrix/media/blob-store.ts';
import { MediaGc } from './matrix/media/media-gc.ts';
import { DEFAULT_MEDIA_LIMITS, MediaService } from './matrix/media/media-service.ts';
import { PeriodicJob } from './jobs/periodic.ts';
import { PreviewFetcher } from './matrix/media/url-preview.ts';
import { KeyBackupService } from './matrix/keys/backup-service.ts';
import { KeysService } from './matrix/keys/keys-service.ts';
import { ToDeviceService } from './matrix/keys/to-device-service.ts';
import { AppserviceService } from './matrix/appservice/appservice-service.ts';
import { loadRegistrations } from './matrix/appservice/registration.ts';
import { TransactionSender } from './matrix/appservice/transaction-sender.ts';
import { GatewaySender } from './matrix/push/gateway-sender.ts';
import { PushService } from './matrix/push/push-service.ts';
import { PushWorker } from './matrix/push/push-worker.ts';
import { OutboundGuard } from './crisis/channels/outbound-guard.ts';
import { ReceiptsService } from './matrix/receipts/receipts-service.ts';
import { RelationsService } from './matrix/relations/relations-service.ts';
import type { RoomContext } from './matrix/rooms/context.ts';
import * as membership from './matrix/rooms/membership.ts';
import { RecentEvents } from './matrix/sync/recent-events.ts';
import { SyncService } from './matrix/sync/sync-service.ts';
import { EventWriter } from './matrix/timeline/append.ts';
import { TimelineReader } from './matrix/timeline/read.ts';
import { TypingService } from './matrix/typing/typing-service.ts';
import { NotifyBus } from './notify/bus.ts';
import { EphemeralClock } from './notify/ephemeral-clock.ts';
import { DEFAULT_PRESENCE_TIMEOUTS, PresenceService } from './matrix/presence/presence.ts';
import { PgRelay } from './notify/pg-relay.ts';
import { currentStreamPos } from './storage/stream.ts';

/**
 * The composition root: every service, built once in dependency order. Routes receive this
 * object and call services; nothing below the routes sees HTTP.
 */
export interface Services {
  config: Config;
  log: Logger;
  db: Knex;
  bus: NotifyBus;
  accounts: AccountService;
  uia: UiaService;
  writer: EventWriter;
  reader: TimelineReader;
  rooms: RoomContext;
  typing: TypingService;
  presence: PresenceService;
  sync: SyncService;
  accountData: AccountDataService;
  receipts: ReceiptsService;
  relations: RelationsService;
  media: MediaService;
  /** Media garbage collection: the collector, and the periodic job that runs it on one node. */
  mediaGc: { gc: MediaGc; job: PeriodicJob };
  keys: KeysService;
  toDevice: ToDeviceService;
  keyBackup: KeyBackupService;
  push: PushService;
  pushWorker: PushWorker;
  appservices: AppserviceService;
  limits: { login: RateLimiter; register: RateLimiter; send: RateLimiter };
  /** The UIA stage verifier for m.login.password, bound to the user being re-authenticated. */
  passwordStage(userId: string): StageVerifier;
  /** Deactivates an account: out of every room, every device logged out. */
  deactivateUser(userId: string): Promise<void>;
  close(): Promise<void>;
}

export async function buildServices(config: Config, log: Logger, db: Knex, signingKey: SigningKey): Promise<Services> {
  // Registration files first: a bad one stops the start before anything runs.
  const registrations = loadRegistrations(config.file.app_service_config_files ?? []);
  const bus = new NotifyBus();
  // Several processes on one PostgreSQL wake each other's syncs through LISTEN/NOTIFY. Listen
  // before reading the current position, so that no commit falls between the two.
  const relay = config.databaseUrl ? new PgRelay(bus, config.databaseUrl, log) : undefined;
  await relay?.start();
  bus.advanceTo(await currentStreamPos(db));
  const keys = new KeysService(db, bus);
  // A device that goes takes its keys and waiting messages with it.
  const accounts = new AccountService({ db, serverName: config.serverName, devicesRemoved: (userId, deviceIds) => keys.devicesRemoved(userId, deviceIds) });
  const writer = new EventWriter({ db, bus, serverName: config.serverName, signingKey });
  const reader = new TimelineReader(db, bus);
  // Typing and presence changes share one serial: the second part of sync tokens.
  const ephemeralClock = new EphemeralClock();
  const typing = new TypingService(bus, ephemeralClock);
  // The rooms' latest events in memory, for the syncs a send wakes (taken before they wake).
  const recentEvents = new RecentEvents(db);
  writer.onCommitted((events) => recentEvents.add(events));
  const presenceFile = config.file.presence;
  const presence = new PresenceService({
    db,
    bus,
    clock: ephemeralClock,
    log,
    timeouts: {
      idleMs: presenceFile?.unavailable_after_s !== undefined ? presenceFile.unavailable_after_s * 1000 : DEFAULT_PRESENCE_TIMEOUTS.idleMs,
      offlineMs: presenceFile?.offline_after_s !== undefined ? presenceFile.offline_after_s * 1000 : DEFAULT_PRESENCE_TIMEOUTS.offlineMs,
    },
  });
  presence.start();
  const accountData = new AccountDataService(db, bus);
  const rooms: RoomContext = { db, serverName: config.serverName, writer, accounts };
  const blobs = new FsBlobStore(path.join(config.dataDir, 'media'));
  await blobs.init();
  const previewFetcher = new PreviewFetcher(config.file.outbound_allow_ranges ?? []);
  const media = new MediaService({
    db,
    store: blobs,
    serverName: config.serverName,
    fetcher: previewFetcher,
    log,
    limits: {
      ...DEFAULT_MEDIA_LIMITS,
      maxUploadBytes: config.file.media?.max_upload_bytes ?? DEFAULT_MEDIA_LIMITS.maxUploadBytes,
      urlPreviews: config.file.media?.url_previews ?? DEFAULT_MEDIA_LIMITS.urlPreviews,
      legacyDownloads: config.file.media?.legacy_unauthenticated_downloads ?? DEFAULT_MEDIA_LIMITS.legacyDownloads,
    },
  });
  const mediaGc = new MediaGc(db, blobs, log, { blobGraceMs: (config.file.media?.blob_grace_s ?? 3600) * 1000 });
  const mediaGcJob = new PeriodicJob(db, log, {
    name: 'media-gc',
    intervalMs: (config.file.media?.gc_interval_s ?? 3600) * 1000,
    leaseMs: 30 * 60_000,
    run: (now) => mediaGc.run(now),
  });
  await mediaGcJob.start();
  // Push gateways are chosen by users: their addresses go through the outbound guard.
  const guard = new OutboundGuard(config.file.outbound_allow_ranges ?? []);
  const push = new PushService(db, bus, guard);
  const gateways = new GatewaySender(db, log, guard);
  const pushWorker = new PushWorker(db, log, () => gateways.wake());
  // Rules are evaluated after the commit, by the worker: the send path does not wait for them.
  writer.onAppended(() => pushWorker.wake());
  pushWorker.start();
  gateways.start();
  const appservices = new AppserviceService(db, log, config.serverName, registrations);
  await appservices.ensureSenders((localpart) => accounts.createAccount({ localpart }));
  accounts.unknownUserResolver = (userId) => appservices.queryUser(userId);
  const transactions = new TransactionSender(db, log, appservices);
  writer.onAppended(() => transactions.wake());
  const receipts = new ReceiptsService(db, bus, reader, accountData);
  // Ephemeral events for application services that asked for them (receive_ephemeral).
  const toServices = (edu: Record<string, unknown>, scope: { roomId?: string; userId?: string }) =>
    void transactions.queueEphemeral(edu, scope).catch((err: unknown) => log.warn({ err }, 'ephemeral event for application services dropped'));
  // What users do keeps them online (an unavailable user comes back); bumps stay in memory.
  writer.onAppended((events) => {
    for (const sender of new Set(events.map((e) => e.sender))) presence.activity(sender);
  });
  bus.onLocalPublish((change) => {
    for (const t of change.typing ?? []) if (t.until > 0) presence.activity(t.user);
    for (const t of change.typing ?? []) toServices({ type: 'm.typing', room_id: t.room, content: { user_ids: typing.typingIn(t.room, undefined) ?? [] } }, { roomId: t.room });
  });
  receipts.onReceipt((r) => {
    presence.activity(r.userId);
    if (r.type === 'm.read.private') return;
    const receipt = r.threadId ? { ts: r.ts, thread_id: r.threadId } : { ts: r.ts };
    toServices({ type: 'm.receipt', room_id: r.roomId, content: { [r.eventId]: { [r.type]: { [r.userId]: receipt } } } }, { roomId: r.roomId });
  });
  presence.onChange((userId, content) => toServices({ type: 'm.presence', sender: userId, content }, { userId }));
  await transactions.start();
  const enabled = config.rateLimits;
  const services: Services = {
    config,
    log,
    db,
    bus,
    accounts,
    uia: new UiaService(),
    writer,
    reader,
    rooms,
    typing,
    presence,
    sync: new SyncService({
      db,
      bus,
      typing,
      presence,
      counts: (userId, after) => push.counts(userId, after),
      countsWithTail: (userId, rooms, tail) => push.countsWithTail(userId, rooms, tail),
      recent: recentEvents,
    }),
    accountData,
    receipts,
    relations: new RelationsService(db, reader),
    media,
    mediaGc: { gc: mediaGc, job: mediaGcJob },
    keys,
    toDevice: new ToDeviceService(db, bus, config.serverName),
    keyBackup: new KeyBackupService(db),
    push,
    pushWorker,
    appservices,
    limits: {
      // Login: a burst of 5, then one attempt every 2 s per IP and per account.
      login: new RateLimiter(0.5, 5, enabled),
      register: new RateLimiter(0.2, 5, enabled),
      send: new RateLimiter(20, 100, enabled),
    },
    passwordStage: (userId) => async (stage, auth) => {
      if (stage !== 'm.login.password') return false;
      const identifier = auth.identifier as { type?: string; user?: string } | undefined;
      const user = identifier?.user ?? (auth.user as string | undefined) ?? userId;
      if (typeof auth.password !== 'string') return false;
      const account = await accounts.checkPassword(user, auth.password).catch(() => undefined);
      return account?.user_id === userId;
    },
    deactivateUser: async (userId) => {
      await accounts.deactivate(userId);
      // Out of every room, and every pending invite rejected (as Synapse does).
      for (const roomId of await membership.roomsWith(rooms, userId, ['join', 'invite'])) {
        await membership.leave(rooms, userId, roomId).catch((err: unknown) => log.warn({ err, roomId, userId }, 'leave on deactivation failed'));
      }
    },
    close: async () => {
      typing.close();
      presence.close();
      await previewFetcher.close();
      await mediaGcJob.stop();
      await pushWorker.stop();
      await gateways.stop();
      await transactions.stop();
      await relay?.close();
    },
  };
  return services;
}
