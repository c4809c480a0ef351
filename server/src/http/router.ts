import { accountDataRoutes } from '../matrix/account-data/routes.ts';
import { authRoutes } from '../matrix/auth/routes.ts';
import { loginTokenRoutes } from '../matrix/auth/login-token-routes.ts';
import { deviceRoutes } from '../matrix/devices/routes.ts';
import { keyBackupRoutes } from '../matrix/keys/backup-routes.ts';
import { keysRoutes } from '../matrix/keys/routes.ts';
import { discoveryRoutes } from '../matrix/discovery/routes.ts';
import { roomDirectoryRoutes } from '../matrix/directory/routes.ts';
import { mediaRoutes } from '../matrix/media/routes.ts';
import { presenceRoutes } from '../matrix/presence/routes.ts';
import { reportRoutes } from '../matrix/reports/routes.ts';
import { searchRoutes } from '../matrix/search/routes.ts';
import { thirdPartyRoutes } from '../matrix/thirdparty/routes.ts';
import { voipRoutes } from '../matrix/voip/routes.ts';
import { appserviceRoutes } from '../matrix/appservice/routes.ts';
import { pushRoutes } from '../matrix/push/routes.ts';
import { profileRoutes } from '../matrix/profile/routes.ts';
import { receiptRoutes } from '../matrix/receipts/routes.ts';
import { relationsRoutes } from '../matrix/relations/routes.ts';
import { spaceRoutes } from '../matrix/spaces/routes.ts';
import { roomRoutes } from '../matrix/rooms/routes.ts';
import { roomUpgradeRoutes } from '../matrix/rooms/upgrade-routes.ts';
import { syncRoutes } from '../matrix/sync/routes.ts';
import { timelineRoutes } from '../matrix/timeline/routes.ts';
import { typingRoutes } from '../matrix/typing/routes.ts';
import type { Services } from '../services.ts';
import { alertRoutes } from '../crisis/alerts/routes.ts';
import { audienceRoutes } from '../crisis/alerts/audience-routes.ts';
import { channelRoutes } from '../crisis/channels/routes.ts';
import { directoryRoutes } from '../crisis/directory/routes.ts';
import { scimRoutes } from '../crisis/directory/scim-routes.ts';
import { logbookRoutes } from '../crisis/logbook/routes.ts';
import type { CrisisServices } from '../crisis/crisis-services.ts';
import type { RouteDef } from './route.ts';
import type { SocketRoute } from './websocket.ts';
import { liveAlertRoute } from '../crisis/alerts/live.ts';
import { auditRoutes } from '../audit/routes.ts';

/** Every route of the server, in one list: the API surface at a glance. */
export function allRoutes(s: Services, c: CrisisServices): RouteDef[] {
  return [
    ...alertRoutes(c),
    ...audienceRoutes(s, c),
    ...channelRoutes(s.db, c, s.config.file.outbound_allow_ranges ?? []),
    ...directoryRoutes(c),
    ...auditRoutes(s),
    ...scimRoutes(c),
    ...logbookRoutes(s),
    ...discoveryRoutes(s),
    ...authRoutes(s),
    ...loginTokenRoutes(),
    ...deviceRoutes(s),
    ...profileRoutes(s),
    ...roomRoutes(s),
    ...roomUpgradeRoutes(s),
    ...timelineRoutes(s),
    ...syncRoutes(s),
    ...accountDataRoutes(s),
    ...receiptRoutes(s),
    ...relationsRoutes(s),
    ...spaceRoutes(s),
    ...typingRoutes(s),
    ...mediaRoutes(s),
    ...roomDirectoryRoutes(s),
    ...presenceRoutes(s),
    ...voipRoutes(s),
    ...thirdPartyRoutes(s),
    ...reportRoutes(s),
    ...searchRoutes(s),
    ...keysRoutes(s),
    ...keyBackupRoutes(s),
    ...pushRoutes(s),
    ...appserviceRoutes(s),
  ];
}

/** Every WebSocket endpoint. */
export function allSocketRoutes(s: Services, c: CrisisServices): SocketRoute[] {
  return [liveAlertRoute(c.alerts, s.bus, s.log)];
}
