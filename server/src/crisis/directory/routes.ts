import { z } from 'zod';
import { forbidden, notFound } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Requester } from '../../http/route.ts';
import type { CrisisServices } from '../crisis-services.ts';

const V1 = '/_tocsin/v1';

function requireAdmin(requester: Requester): void {
  if (!requester.isAdmin) throw forbidden('Server administrators only.');
}

export function directoryRoutes(c: CrisisServices): RouteDef[] {
  const sync = c.directory.sync;
  const devices = c.directory.devices;
  return [
    // A lost or stolen device: list a person's devices, revoke one or all.
    userRoute('GET', `${V1}/admin/users/:userId/devices`, async ({ requester, params }) => {
      requireAdmin(requester);
      return { devices: await devices.list(requester, params.userId!) };
    }),
    userRoute('DELETE', `${V1}/admin/users/:userId/devices/:deviceId`, async ({ requester, params }) => {
      requireAdmin(requester);
      return { revoked: await devices.revoke(requester, params.userId!, [params.deviceId!]) };
    }),
    userRoute('DELETE', `${V1}/admin/users/:userId/devices`, async ({ requester, params }) => {
      requireAdmin(requester);
      return { revoked: await devices.revoke(requester, params.userId!, 'all') };
    }),

    // DESIGN.md: {dry_run?} -> {created, updated, suspended, deprovisioned, stopped?}.
    userRoute(
      'POST',
      `${V1}/admin/directory/sync`,
      async ({ requester, body }) => {
        requireAdmin(requester);
        return sync.run({ dryRun: body.dry_run ?? false, force: body.force ?? false, trigger: 'api', requestedBy: requester.userId });
      },
      { body: z.object({ dry_run: z.boolean().optional(), force: z.boolean().optional() }) },
    ),

    // The progress of the running sync, for the CLI's progress bar.
    userRoute('GET', `${V1}/admin/directory/sync`, ({ requester }) => {
      requireAdmin(requester);
      return sync.progress;
    }),

    userRoute('GET', `${V1}/admin/directory/runs`, async ({ requester, query }) => {
      requireAdmin(requester);
      const limit = Math.min(Math.max(Number.parseInt(query.limit ?? '20', 10) || 20, 1), 200);
      const runs = await sync.runs(limit);
      return {
        runs: runs.map((r) => ({
          run_id: r.run_id,
          trigger: r.trigger,
          requested_by: r.requested_by,
          dry_run: r.dry_run,
          forced: r.forced,
          stopped: r.stopped,
          started_ts: r.started_ts,
          finished_ts: r.finished_ts,
          created: r.report.created,
          updated: r.report.updated,
          suspended: r.report.suspended,
          deprovisioned: r.report.deprovisioned,
        })),
      };
    }),

    userRoute('GET', `${V1}/admin/directory/runs/:runId`, async ({ requester, params }) => {
      requireAdmin(requester);
      const id = /^\d{1,15}$/.test(params.runId ?? '') ? Number(params.runId) : undefined;
      const run = id === undefined ? undefined : await sync.runReport(id, requester.userId);
      if (!run) throw notFound('Unknown run.');
      return { ...run.report, run_id: run.run_id, trigger: run.trigger, requested_by: run.requested_by };
    }),
  ];
}
