import { forbidden } from '../errors.ts';
import { userRoute, type RouteDef } from '../http/route.ts';
import type { Services } from '../services.ts';
import { readAudit } from './audit-log.ts';

/** GET /_tocsin/v1/admin/audit?from=&limit=&user=&actor=&action=: the audit log, newest first (server admins only). */
export function auditRoutes(s: Services): RouteDef[] {
  return [
    userRoute('GET', '/_tocsin/v1/admin/audit', async ({ requester, query }) => {
      if (!requester.isAdmin) throw forbidden('Server administrators only.');
      return readAudit(s.db, s.log, requester.userId, { from: query.from, limit: query.limit, actor: query.actor, user: query.user, action: query.action });
    }),
  ];
}
