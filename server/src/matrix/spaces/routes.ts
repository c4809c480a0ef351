import { invalidParam } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { checkRoomId } from '../rooms/routes.ts';
import { HIERARCHY_LIMITS, HierarchyService } from './hierarchy-service.ts';

const V1 = '/_matrix/client/v1';

function intParam(v: string | undefined, name: string, min: number, fallback: number, cap: number): number {
  if (v === undefined) return fallback;
  if (!/^\d{1,64}$/.test(v) || Number(v) < min) throw invalidParam(`${name} must be an integer of at least ${min}.`);
  // The spec lets the server cap both: a larger value is served at the cap, not refused.
  return Math.min(Number(v), cap);
}

function boolParam(v: string | undefined, name: string): boolean {
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw invalidParam(`${name} must be true or false.`);
}

export function spaceRoutes(s: Services): RouteDef[] {
  const service = new HierarchyService(s.db);
  const L = HIERARCHY_LIMITS;
  return [
    userRoute('GET', `${V1}/rooms/:roomId/hierarchy`, ({ requester, params, query }) =>
      service.hierarchy(requester.userId, checkRoomId(params.roomId!), {
        suggestedOnly: boolParam(query.suggested_only, 'suggested_only'),
        limit: intParam(query.limit, 'limit', 1, L.defaultLimit, L.maxLimit),
        maxDepth: intParam(query.max_depth, 'max_depth', 0, L.defaultMaxDepth, L.maxMaxDepth),
        from: query.from,
      }),
    ),
  ];
}
