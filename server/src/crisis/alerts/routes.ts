import type { Response } from 'express';
import { z } from 'zod';
import { MatrixError, forbidden, invalidParam } from '../../errors.ts';
import { leanHeaders } from '../../http/lean-headers.ts';
import { publicRoute, userRoute, type RouteDef } from '../../http/route.ts';
import { alertRequestSchema, templateSchema } from './templates.ts';
import { ackPage, errorPage } from './ack-page.ts';
import { parseFeedToken } from './feed.ts';
import type { CrisisServices } from '../crisis-services.ts';

const V1 = '/_tocsin/v1';

function intQuery(v: string | undefined, fallback: number, max: number): number {
  if (v === undefined) return fallback;
  if (!/^\d{1,15}$/.test(v)) throw invalidParam('Expected a non-negative integer.');
  return Math.min(Number(v), max);
}

export function alertRoutes(c: CrisisServices): RouteDef[] {
  const alerts = c.alerts;
  return [
    userRoute('POST', `${V1}/alerts`, async ({ requester, body }) => alerts.create(requester, await c.templates.expand(requester, body)), { body: alertRequestSchema }),

    userRoute('GET', `${V1}/alert_templates`, async ({ requester }) => ({ templates: await c.templates.list(requester) })),
    userRoute('GET', `${V1}/alert_templates/:name`, ({ requester, params }) => c.templates.get(requester, params.name!)),
    userRoute(
      'PUT',
      `${V1}/alert_templates/:name`,
      async ({ requester, params, body }) => {
        await c.templates.put(requester, params.name!, body);
        return {};
      },
      { body: templateSchema },
    ),
    userRoute('DELETE', `${V1}/alert_templates/:name`, async ({ requester, params }) => {
      await c.templates.remove(requester, params.name!);
      return {};
    }),

    userRoute('GET', `${V1}/alerts`, async ({ requester, query }) => ({
      alerts: await alerts.list(requester, intQuery(query.limit, 50, 500), query.before === undefined ? undefined : intQuery(query.before, 0, Number.MAX_SAFE_INTEGER)),
    })),

    // The compact alert feed for bad links (long-poll; see feed.ts), without the headers a
    // JSON answer does not need (they weighed more than the frame).
    userRoute('GET', `${V1}/feed`, ({ requester, query, res, req }) => {
      leanHeaders(res, 'json');
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      req.socket.setTimeout(0);
      return c.feed.poll(requester.userId, parseFeedToken(query.since), intQuery(query.timeout, 0, 120_000), abort.signal);
    }),

    userRoute('GET', `${V1}/alerts/:alertId`, ({ requester, params }) => alerts.status(requester, params.alertId!)),

    userRoute(
      'POST',
      `${V1}/alerts/:alertId/ack`,
      async ({ requester, params, body, res }) => {
        leanHeaders(res, 'json');
        const first = await alerts.acknowledge(params.alertId!, requester.userId, 'app', body.answer);
        return { acknowledged: true, first };
      },
      { body: z.object({ answer: z.string().max(40).optional() }).loose() },
    ),

    userRoute('POST', `${V1}/alerts/:alertId/cancel`, async ({ requester, params }) => {
      await alerts.finish(requester, params.alertId!, 'cancelled');
      return {};
    }),

    userRoute('POST', `${V1}/alerts/:alertId/close`, async ({ requester, params }) => {
      await alerts.finish(requester, params.alertId!, 'closed');
      return {};
    }),

    // The per-delivery link of SMS, email and push: a page without JavaScript (GET) and the
    // acknowledgement itself (POST, from the page's form or from the service worker).
    publicRoute('GET', '/ack/:token', async ({ params, res }) => {
      ackPageHeaders(res);
      try {
        const { alert, recipient } = await alerts.deliveryOfToken(params.token!);
        const closed = alert.state !== 'active';
        res.status(200).type('html').send(ackPage(alert, recipient, params.token!, closed ? 'closed' : 'ask'));
      } catch {
        res.status(404).type('html').send(errorPage('Ce lien d’accusé de réception n’est pas valide.'));
      }
    }),

    publicRoute(
      'POST',
      '/ack/:token',
      async ({ params, req, res }) => {
        ackPageHeaders(res);
        const answer = await readAnswer(req);
        const wantsJson = (req.headers.accept ?? '').includes('application/json') && !(req.headers.accept ?? '').includes('text/html');
        try {
          const result = await alerts.acknowledgeByToken(params.token!, answer);
          if (wantsJson) {
            res.status(200).json({ acknowledged: true, first: result.first, alert_id: result.alertId });
            return;
          }
          const { alert, recipient } = await alerts.deliveryOfToken(params.token!);
          res.status(200).type('html').send(ackPage(alert, recipient, params.token!, 'done'));
        } catch (err) {
          if (wantsJson) throw err;
          const message = err instanceof MatrixError && err.status === 400 ? err.message : 'Ce lien d’accusé de réception n’est pas valide.';
          res.status(err instanceof MatrixError ? err.status : 400).type('html').send(errorPage(message));
        }
      },
      { rawBody: true },
    ),

    userRoute(
      'PUT',
      `${V1}/admin/users/:userId/contacts`,
      async ({ requester, params, body }) => {
        if (!requester.isAdmin) throw forbidden('Administrators only.');
        await c.contacts.set(params.userId!, body);
        return {};
      },
      { body: c.contacts.schema },
    ),

    userRoute('GET', `${V1}/admin/users/:userId/contacts`, async ({ requester, params }) => {
      if (!requester.isAdmin) throw forbidden('Administrators only.');
      return c.contacts.get(requester.userId, params.userId!);
    }),

    // What the crisis console needs before composing: may this user send, and the default plan
    // and channels the escalation preview shows.
    userRoute('GET', `${V1}/me/alerting`, async ({ requester }) => ({
      can_send: await alerts.canSend(requester),
      default_escalation: alerts.defaultPlan,
      channels: [...c.adapters.keys()].sort(),
    })),

    userRoute('GET', `${V1}/me/quiet_hours`, ({ requester }) => c.quietHours.get(requester.userId)),
    userRoute(
      'PUT',
      `${V1}/me/quiet_hours`,
      async ({ requester, body }) => {
        await c.quietHours.set(requester.userId, body);
        return {};
      },
      { body: c.quietHours.schema },
    ),
    userRoute('DELETE', `${V1}/me/quiet_hours`, async ({ requester }) => {
      await c.quietHours.remove(requester.userId);
      return {};
    }),

    userRoute(
      'PUT',
      `${V1}/admin/groups/:groupId`,
      async ({ requester, params, body }) => {
        if (!requester.isAdmin) throw forbidden('Administrators only.');
        await c.groups.set(params.groupId!, body.display_name ?? null, body.members);
        return {};
      },
      { body: z.object({ display_name: z.string().max(255).optional(), members: z.array(z.string().max(255)).max(100_000) }) },
    ),
    userRoute('GET', `${V1}/admin/groups`, async ({ requester }) => {
      if (!requester.isAdmin) throw forbidden('Administrators only.');
      return { groups: await c.groups.list() };
    }),
    userRoute(
      'PUT',
      `${V1}/admin/users/:userId/roles`,
      async ({ requester, params, body }) => {
        if (!requester.isAdmin) throw forbidden('Administrators only.');
        await c.roles.set(params.userId!, body.roles);
        return {};
      },
      { body: z.object({ roles: z.array(z.enum(['alert_sender', 'exercise_coordinator', 'dpo'])).max(3) }) },
    ),
  ];
}

/** The answer of a roll call, from the page's form (urlencoded) or a JSON body. */
async function readAnswer(req: import('express').Request): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 4096) throw new MatrixError(413, 'M_TOO_LARGE', 'Request too large.');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.length === 0) return undefined;
  if (text.trimStart().startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { answer?: unknown };
      return typeof parsed.answer === 'string' ? parsed.answer : undefined;
    } catch {
      throw new MatrixError(400, 'M_NOT_JSON', 'Content not JSON.');
    }
  }
  return new URLSearchParams(text).get('answer') ?? undefined;
}

/** The ack page and its answer carry a token: never cached, no script, forms to this origin only. */
function ackPageHeaders(res: Response): void {
  leanHeaders(res, 'page');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
}
