import { timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { MatrixError, forbidden } from '../../errors.ts';
import { publicRoute, userRoute, type RouteDef } from '../../http/route.ts';
import type { CrisisServices } from '../crisis-services.ts';
import { addPushSubscription, parsePushSubscription, removePushSubscription, listPushSubscriptions } from './webpush/subscriptions.ts';

const V1 = '/_tocsin/v1';

/** Hosts a push service may be reached over plain http: only loopback ones the operator allowed. */
function httpHosts(allowRanges: readonly string[]): string[] {
  return allowRanges.some((r) => r.startsWith('127.')) ? ['127.0.0.1', 'localhost'] : [];
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function channelRoutes(db: Knex, c: CrisisServices, allowRanges: readonly string[]): RouteDef[] {
  return [
    publicRoute('GET', `${V1}/push/vapid`, () => ({ public_key: c.channels.vapidPublicKey })),

    userRoute('POST', `${V1}/push/subscriptions`, async ({ requester, body }) => {
      let subscription;
      try {
        subscription = parsePushSubscription(body, { allowHttpHosts: httpHosts(allowRanges) });
      } catch (err) {
        const issue = (err as z.ZodError).issues?.[0];
        throw new MatrixError(400, 'M_BAD_JSON', issue ? `${issue.path.join('.') || 'subscription'}: ${issue.message}` : 'Invalid push subscription.');
      }
      await addPushSubscription(db, requester.userId, subscription, { deviceId: requester.deviceId });
      return {};
    }),

    userRoute('GET', `${V1}/push/subscriptions`, async ({ requester }) => ({
      subscriptions: (await listPushSubscriptions(db, requester.userId)).map((s) => ({ endpoint: s.endpoint })),
    })),

    userRoute(
      'DELETE',
      `${V1}/push/subscriptions`,
      async ({ requester, body }) => {
        const mine = await listPushSubscriptions(db, requester.userId);
        if (!mine.some((s) => s.endpoint === body.endpoint)) throw new MatrixError(404, 'M_NOT_FOUND', 'Unknown subscription.');
        await removePushSubscription(db, body.endpoint);
        return {};
      },
      { body: z.object({ endpoint: z.string().max(2048) }) },
    ),

    // Replies and delivery receipts from an HTTP SMS gateway, authenticated by its token.
    publicRoute('POST', `${V1}/sms/inbound`, async ({ req, body }) => {
      const token = c.channels.config.sms?.http?.token;
      if (!token) throw new MatrixError(404, 'M_UNRECOGNIZED', 'No HTTP SMS gateway is configured.');
      const given = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      if (!given || !sameSecret(given, token)) throw forbidden('Bad gateway token.');
      const result = await c.channels.handleInboundSms(body);
      if (result.kind === 'invalid') throw new MatrixError(400, 'M_BAD_JSON', result.error);
      return {};
    }),
  ];
}
