import { z } from 'zod';
import { invalidParam, missingParam } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { parseSyncToken } from '../sync/tokens.ts';

const V3 = '/_matrix/client/v3';

/** Users or devices one request may name: keeps each query within the database's limits. */
const MAX_QUERY_USERS = 5000;
const MAX_CLAIM_DEVICES = 1000;

const id = z.string().min(1).max(255);
const signatures = z.record(z.string().max(255), z.record(z.string().max(255), z.string().max(1024)));
const keyMap = z.record(z.string().max(255), z.union([z.string().max(1024), z.object({ key: z.string().max(1024), signatures: signatures.optional() }).loose()]));
const deviceKeys = z
  .object({
    user_id: id,
    device_id: id,
    algorithms: z.array(z.string().max(255)).max(64),
    keys: z.record(z.string().max(255), z.string().max(1024)),
    signatures,
  })
  .loose();
const crossSigningKey = z
  .object({ user_id: id, usage: z.array(z.string().max(64)).min(1).max(8), keys: z.record(z.string().max(255), z.string().max(1024)), signatures: signatures.optional() })
  .loose();

export function keysRoutes(s: Services): RouteDef[] {
  return [
    userRoute(
      'POST',
      `${V3}/keys/upload`,
      ({ requester, body }) => s.keys.upload(requester.userId, requester.deviceId, body),
      { body: z.object({ device_keys: deviceKeys.optional(), one_time_keys: keyMap.optional(), fallback_keys: keyMap.optional() }).loose() },
    ),
    userRoute(
      'POST',
      `${V3}/keys/query`,
      ({ requester, body }) => {
        if (Object.keys(body.device_keys).length > MAX_QUERY_USERS) throw invalidParam(`At most ${MAX_QUERY_USERS} users per query.`);
        return s.keys.query(requester.userId, body.device_keys);
      },
      { body: z.object({ device_keys: z.record(z.string().max(255), z.array(z.string().max(255)).max(1000)), timeout: z.number().int().optional() }).loose() },
    ),
    userRoute(
      'POST',
      `${V3}/keys/claim`,
      ({ body }) => {
        const n = Object.values(body.one_time_keys).reduce((sum, d) => sum + Object.keys(d).length, 0);
        if (n > MAX_CLAIM_DEVICES) throw invalidParam(`At most ${MAX_CLAIM_DEVICES} devices per claim.`);
        return s.keys.claim(body.one_time_keys);
      },
      { body: z.object({ one_time_keys: z.record(z.string().max(255), z.record(z.string().max(255), z.string().max(255))), timeout: z.number().int().optional() }).loose() },
    ),
    userRoute('GET', `${V3}/keys/changes`, ({ requester, query }) => {
      if (query.from === undefined || query.to === undefined) throw missingParam('from and to are required.');
      const now = s.bus.position;
      // Tokens from the future are clamped, as /sync does.
      const from = Math.min(parseSyncToken(query.from).pos, now);
      const to = Math.min(parseSyncToken(query.to).pos, now);
      return to <= from ? { changed: [], left: [] } : s.keys.changes(requester.userId, from, to);
    }),
    userRoute(
      'POST',
      `${V3}/keys/device_signing/upload`,
      async ({ requester, body }) => {
        const { auth, ...keys } = body;
        if (await s.keys.crossSigningNeedsAuth(requester.userId, keys)) {
          await s.uia.require(auth, [{ stages: ['m.login.password'] }], `device-signing:${requester.userId}`, s.passwordStage(requester.userId));
        }
        await s.keys.uploadCrossSigning(requester.userId, keys);
        return {};
      },
      {
        body: z
          .object({
            master_key: crossSigningKey.optional(),
            self_signing_key: crossSigningKey.optional(),
            user_signing_key: crossSigningKey.optional(),
            auth: z.unknown().optional(),
          })
          .loose(),
      },
    ),
    userRoute(
      'POST',
      `${V3}/keys/signatures/upload`,
      ({ requester, body }) => {
        const n = Object.values(body).reduce((sum, d) => sum + Object.keys(d).length, 0);
        if (n > MAX_CLAIM_DEVICES) throw invalidParam(`At most ${MAX_CLAIM_DEVICES} keys per upload.`);
        return s.keys.uploadSignatures(requester.userId, body);
      },
      { body: z.record(z.string().max(255), z.record(z.string().max(255), z.record(z.string(), z.unknown()))) },
    ),
    userRoute(
      'PUT',
      `${V3}/sendToDevice/:eventType/:txnId`,
      async ({ requester, params, body }) => {
        const type = params.eventType!;
        const txnId = params.txnId!;
        if (type.length === 0 || Buffer.byteLength(type) > 255) throw invalidParam('Invalid event type.');
        if (txnId.length === 0 || Buffer.byteLength(txnId) > 255) throw invalidParam('Invalid transaction ID.');
        await s.toDevice.send(requester, type, txnId, body.messages);
        return {};
      },
      { body: z.object({ messages: z.record(z.string().max(255), z.record(z.string().max(255), z.record(z.string(), z.unknown()))) }).loose() },
    ),
  ];
}
