import { z } from 'zod';
import { invalidParam, notFound } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { checkRoomId } from '../rooms/routes.ts';
import { parseBackupVersion } from './backup-service.ts';

const V3 = '/_matrix/client/v3';

const jsonObject = z.record(z.string(), z.unknown());
const versionBody = z.object({ algorithm: z.string().min(1).max(255), auth_data: jsonObject }).loose();
const keyBackupData = z
  .object({
    first_message_index: z.number().int().min(0).max(2 ** 31 - 1),
    forwarded_count: z.number().int().min(0).max(2 ** 31 - 1),
    is_verified: z.boolean(),
    session_data: jsonObject,
  })
  .loose();
const sessions = z.record(z.string().min(1).max(255), keyBackupData);

/** Server-side key backup (spec "Server-side key backups"). */
export function keyBackupRoutes(s: Services): RouteDef[] {
  const b = s.keyBackup;
  const session = (id: string) => {
    if (id.length === 0 || id.length > 255) throw invalidParam('Invalid session id.');
    return id;
  };
  return [
    userRoute('POST', `${V3}/room_keys/version`, async ({ requester, body }) => ({ version: await b.create(requester.userId, body.algorithm, body.auth_data) }), { body: versionBody }),
    userRoute('GET', `${V3}/room_keys/version`, ({ requester }) => b.info(requester.userId)),
    userRoute('GET', `${V3}/room_keys/version/:version`, ({ requester, params }) => b.info(requester.userId, parseBackupVersion(params.version))),
    userRoute(
      'PUT',
      `${V3}/room_keys/version/:version`,
      async ({ requester, params, body }) => {
        await b.update(requester.userId, parseBackupVersion(params.version), body);
        return {};
      },
      { body: versionBody.extend({ version: z.string().max(64).optional() }).loose() },
    ),
    userRoute('DELETE', `${V3}/room_keys/version/:version`, async ({ requester, params }) => {
      await b.delete(requester.userId, parseBackupVersion(params.version));
      return {};
    }),

    userRoute('GET', `${V3}/room_keys/keys`, async ({ requester, query }) => {
      const keys = await b.getKeys(requester.userId, parseBackupVersion(query.version));
      return { rooms: Object.fromEntries(Object.entries(keys).map(([r, sessions]) => [r, { sessions }])) };
    }),
    userRoute(
      'PUT',
      `${V3}/room_keys/keys`,
      ({ requester, query, body }) => {
        const keys = Object.fromEntries(Object.entries(body.rooms).map(([r, v]) => [checkRoomId(r), v.sessions]));
        return b.putKeys(requester.userId, parseBackupVersion(query.version), keys);
      },
      { body: z.object({ rooms: z.record(z.string().max(255), z.object({ sessions }).loose()) }).loose() },
    ),
    userRoute('DELETE', `${V3}/room_keys/keys`, ({ requester, query }) => b.deleteKeys(requester.userId, parseBackupVersion(query.version))),

    userRoute('GET', `${V3}/room_keys/keys/:roomId`, async ({ requester, params, query }) => {
      const roomId = checkRoomId(params.roomId!);
      const keys = await b.getKeys(requester.userId, parseBackupVersion(query.version), roomId);
      return { sessions: keys[roomId] ?? {} };
    }),
    userRoute(
      'PUT',
      `${V3}/room_keys/keys/:roomId`,
      ({ requester, params, query, body }) => {
        const roomId = checkRoomId(params.roomId!);
        return b.putKeys(requester.userId, parseBackupVersion(query.version), { [roomId]: body.sessions });
      },
      { body: z.object({ sessions }).loose() },
    ),
    userRoute('DELETE', `${V3}/room_keys/keys/:roomId`, ({ requester, params, query }) =>
      b.deleteKeys(requester.userId, parseBackupVersion(query.version), checkRoomId(params.roomId!)),
    ),

    userRoute('GET', `${V3}/room_keys/keys/:roomId/:sessionId`, async ({ requester, params, query }) => {
      const roomId = checkRoomId(params.roomId!);
      const sessionId = session(params.sessionId!);
      const keys = await b.getKeys(requester.userId, parseBackupVersion(query.version), roomId, sessionId);
      const key = keys[roomId]?.[sessionId];
      if (!key) throw notFound('No key for this session.');
      return key;
    }),
    userRoute(
      'PUT',
      `${V3}/room_keys/keys/:roomId/:sessionId`,
      ({ requester, params, query, body }) => {
        const roomId = checkRoomId(params.roomId!);
        return b.putKeys(requester.userId, parseBackupVersion(query.version), { [roomId]: { [session(params.sessionId!)]: body } });
      },
      { body: keyBackupData },
    ),
    userRoute('DELETE', `${V3}/room_keys/keys/:roomId/:sessionId`, ({ requester, params, query }) =>
      b.deleteKeys(requester.userId, parseBackupVersion(query.version), checkRoomId(params.roomId!), session(params.sessionId!)),
    ),
  ];
}
