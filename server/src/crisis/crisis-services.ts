import type { Logger } from '../logger.ts';
import type { Services } from '../services.ts';
import * as usersRepo from '../storage/users.ts';
import { serverSecret } from '../storage/server-secrets.ts';
import { AckLinks } from './alerts/ack-links.ts';
import { AlertService } from './alerts/alert-service.ts';
import { EscalationEngine } from './alerts/engine.ts';
import { AlertFeed } from './alerts/feed.ts';
import { AlertRoomPosts } from './alerts/room-posts.ts';
import { AlertTemplates } from './alerts/templates.ts';
import { DEFAULT_ESCALATION, escalationSchema } from './alerts/escalation.ts';
import { watchMatrixAcks } from './alerts/matrix-acks.ts';
import { QuietHoursService } from './alerts/quiet-hours-service.ts';
import type { ChannelAdapter } from './channels/channel.ts';
import { MatrixChannel } from './channels/matrix-channel.ts';
import { buildChannels, type Channels } from './channels/index.ts';
import { AlertChannelEvents } from './alerts/channel-events.ts';
import { ContactsService } from './directory/contacts-service.ts';
import { GroupsService, RolesService } from './directory/groups-service.ts';
import { ConfigError } from '../config/config.ts';
import { parseDirectoryConfig, type DirectoryConfig } from './directory/directory-config.ts';
import { DirectoryLifecycle } from './directory/lifecycle.ts';
import { DirectorySync } from './directory/directory-sync.ts';
import { DirectoryLogin } from './directory/directory-login.ts';
import { DeviceAdminService } from './directory/device-admin-service.ts';
import { ScimService } from './directory/scim-service.ts';

export interface CrisisServices {
  alerts: AlertService;
  templates: AlertTemplates;
  feed: AlertFeed;
  engine: EscalationEngine;
  contacts: ContactsService;
  quietHours: QuietHoursService;
  groups: GroupsService;
  roles: RolesService;
  adapters: Map<string, ChannelAdapter>;
  channels: Channels;
  systemUser: string;
  directory: { config: DirectoryConfig; lifecycle: DirectoryLifecycle; sync: DirectorySync; devices: DeviceAdminService; scim: ScimService };
  close(): Promise<void>;
}

/** The local system user that sends alert messages in Matrix rooms. */
async function ensureSystemUser(s: Services): Promise<string> {
  const userId = `@tocsin:${s.config.serverName}`;
  await usersRepo.insertUser(s.db, {
    user_id: userId,
    localpart: 'tocsin',
    password_hash: null,
    admin: false,
    displayname: 'Tocsin',
    avatar_url: null,
    created_ts: Date.now(),
  });
  return userId;
}

export async function buildCrisisServices(s: Services, log: Logger, extraAdapters: ChannelAdapter[] = []): Promise<CrisisServices> {
  const systemUser = await ensureSystemUser(s);
  const directoryConfig = parseDirectoryConfig(s.config.file.directory);
  const plan = s.config.file.alerts?.escalation;
  let defaultPlan = DEFAULT_ESCALATION;
  if (plan !== undefined) {
    const parsed = escalationSchema.safeParse(plan);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ConfigError(`alerts.escalation.${issue.path.join('.')}: ${issue.message}`);
    }
    defaultPlan = parsed.data;
  }
  const leaseS = s.config.file.alerts?.lease_s;
  if (leaseS !== undefined && (typeof leaseS !== 'number' || !Number.isFinite(leaseS) || leaseS < 1 || leaseS > 3600)) {
    throw new ConfigError('alerts.lease_s: must be a number of seconds from 1 to 3600');
  }
  const links = new AckLinks(await serverSecret(s.db, 'ack_links'), s.config.publicBaseUrl);
  let engine: EscalationEngine | undefined;
  const changed = (alertId: string, userIds: string[], pos?: number) =>
    s.bus.publish({ ...(pos !== undefined ? { pos } : {}), users: userIds, rooms: [`alert:${alertId}`] });
  const roomPosts = new AlertRoomPosts(s.rooms, systemUser, log);
  s.writer.onAppended(roomPosts.watchInvites());
  const alerts = new AlertService({
    db: s.db,
    log,
    serverName: s.config.serverName,
    links,
    defaultPlan,
    systemUsers: new Set([systemUser]),
    wakeEngine: () => engine?.wake(),
    changed,
    announce: (alert, audience) => void roomPosts.post(alert, audience),
  });
  const channels = await buildChannels(s.config.file.channels ?? {}, {
    dataDir: s.config.dataDir,
    db: s.db,
    events: new AlertChannelEvents(s.db, alerts, log, changed),
    publicBaseUrl: s.config.publicBaseUrl,
    outboundAllowRanges: s.config.file.outbound_allow_ranges ?? [],
    logger: log,
  });
  const adapters = new Map<string, ChannelAdapter>(channels.adapters);
  adapters.set('matrix', new MatrixChannel(s.rooms, systemUser, log));
  for (const a of extraAdapters) adapters.set(a.name, a);
  engine = new EscalationEngine({ db: s.db, log, adapters, links, changed, ...(leaseS !== undefined ? { leaseMs: leaseS * 1000 } : {}) });
  s.writer.onAppended(watchMatrixAcks(s.db, alerts, systemUser, log));
  engine.start();
  const lifecycle = new DirectoryLifecycle(s, log, directoryConfig.rooms);
  const directorySync = new DirectorySync({ s, cfg: directoryConfig, lifecycle, alerts, systemUser, log });
  directorySync.startSchedule();
  if (directorySync.ldap) {
    const login = new DirectoryLogin(s, directorySync.ldap, directoryConfig.lifecycle.offline_login_days, log);
    s.accounts.useExternalPasswordCheck((user, password) => login.check(user, password));
  }
  return {
    alerts,
    templates: new AlertTemplates(s.db, (requester) => alerts.canSend(requester)),
    feed: new AlertFeed(s.db, s.bus),
    engine,
    contacts: new ContactsService(s.db, log),
    quietHours: new QuietHoursService(s.db),
    groups: new GroupsService(s.db),
    roles: new RolesService(s.db),
    adapters,
    channels,
    systemUser,
    directory: { config: directoryConfig, lifecycle, sync: directorySync, devices: new DeviceAdminService(s.db, s.accounts, log),
      scim: new ScimService({ db: s.db, lifecycle, log, baseUrl: s.config.publicBaseUrl, defaultCountryCode: directoryConfig.ldap?.default_country_code }),
    },
    close: async () => {
      await directorySync.stop();
      await engine.stop();
      for (const a of adapters.values()) await a.close().catch(() => undefined);
    },
  };
}
