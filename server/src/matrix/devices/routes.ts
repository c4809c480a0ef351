import { z } from 'zod';
import { notFound } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import * as devicesRepo from '../../storage/devices.ts';

const V3 = '/_matrix/client/v3';

function deviceJson(d: devicesRepo.DeviceRow): Record<string, unknown> {
  const out: Record<string, unknown> = { device_id: d.device_id };
  if (d.display_name !== null) out.display_name = d.display_name;
  if (d.last_seen_ts !== null) out.last_seen_ts = d.last_seen_ts;
  if (d.last_seen_ip !== null) out.last_seen_ip = d.last_seen_ip;
  return out;
}

export function deviceRoutes(s: Services): RouteDef[] {
  const reauth = (userId: string, auth: unknown, purpose: string) =>
    s.uia.require(auth, [{ stages: ['m.login.password'] }], `${purpose}:${userId}`, s.passwordStage(userId));
  return [
    userRoute('GET', `${V3}/devices`, async ({ requester }) => ({
      devices: (await devicesRepo.listDevices(s.db, requester.userId)).map(deviceJson),
    })),
    userRoute('GET', `${V3}/devices/:deviceId`, async ({ requester, params }) => {
      const d = await devicesRepo.findDevice(s.db, requester.userId, params.deviceId!);
      if (!d) throw notFound('Unknown device.');
      return deviceJson(d);
    }),
    userRoute(
      'PUT',
      `${V3}/devices/:deviceId`,
      async ({ requester, params, body }) => {
        if (body.display_name !== undefined && !(await devicesRepo.renameDevice(s.db, requester.userId, params.deviceId!, body.display_name))) {
          throw notFound('Unknown device.');
        }
        if (body.display_name === undefined && !(await devicesRepo.findDevice(s.db, requester.userId, params.deviceId!))) throw notFound('Unknown device.');
        return {};
      },
      { body: z.object({ display_name: z.string().max(512).optional() }).loose() },
    ),
    userRoute(
      'DELETE',
      `${V3}/devices/:deviceId`,
      async ({ requester, params, body }) => {
        const d = await devicesRepo.findDevice(s.db, requester.userId, params.deviceId!);
        if (!d) throw notFound('Unknown device.');
        await reauth(requester.userId, body.auth, `delete-device:${params.deviceId}`);
        await s.accounts.removeDevices(requester.userId, [params.deviceId!]);
        return {};
      },
      { body: z.object({ auth: z.unknown().optional() }).loose() },
    ),
    userRoute(
      'POST',
      `${V3}/delete_devices`,
      async ({ requester, body }) => {
        await reauth(requester.userId, body.auth, `delete-devices:${[...body.devices].sort().join(',')}`);
        await s.accounts.removeDevices(requester.userId, body.devices);
        return {};
      },
      { body: z.object({ devices: z.array(z.string().max(255)).max(1000), auth: z.unknown().optional() }).loose() },
    ),
  ];
}
