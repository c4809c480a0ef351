import { accountDataRoutes } from '../matrix/account-data/routes.ts';
import { authRoutes } from '../matrix/auth/routes.ts';
import { deviceRoutes } from '../matrix/devices/routes.ts';
import { discoveryRoutes } from '../matrix/discovery/routes.ts';
import { profileRoutes } from '../matrix/profile/routes.ts';
import { receiptRoutes } from '../matrix/receipts/routes.ts';
import { roomRoutes } from '../matrix/rooms/routes.ts';
import { syncRoutes } from '../matrix/sync/routes.ts';
import { timelineRoutes } from '../matrix/timeline/routes.ts';
import { typingRoutes } from '../matrix/typing/routes.ts';
import type { Services } from '../services.ts';
import type { RouteDef } from './route.ts';

/** Every route of the server, in one list: the API surface at a glance. */
export function allRoutes(s: Services): RouteDef[] {
  return [
    ...discoveryRoutes(s),
    ...authRoutes(s),
    ...deviceRoutes(s),
    ...profileRoutes(s),
    ...roomRoutes(s),
    ...timelineRoutes(s),
    ...syncRoutes(s),
    ...accountDataRoutes(s),
    ...receiptRoutes(s),
    ...typingRoutes(s),
  ];
}
