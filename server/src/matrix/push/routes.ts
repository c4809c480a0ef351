import { z } from 'zod';
import { invalidParam, unrecognized } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import type { PushRuleKind } from './default-rules.ts';
import { isRuleKind, parseActions } from './rule-set.ts';

const V3 = '/_matrix/client/v3';
const RULE = `${V3}/pushrules/global/:kind/:ruleId`;

function kindOf(params: Record<string, string>): PushRuleKind {
  const kind = params.kind!;
  // The spec only knows the "global" scope and these kinds: anything else is an unknown endpoint.
  if (!isRuleKind(kind)) throw unrecognized(404, 'Unknown push rule kind.');
  return kind;
}

function ruleIdOf(params: Record<string, string>): string {
  const id = params.ruleId!;
  if (id.length === 0 || id.length > 255) throw invalidParam('Invalid rule id.');
  return id;
}

const pusherBody = z
  .object({
    kind: z.string().max(32).nullable(),
    app_id: z.string().min(1).max(64),
    pushkey: z.string().min(1).refine((k) => Buffer.byteLength(k) <= 512, 'pushkey is at most 512 bytes'),
    app_display_name: z.string().max(255).optional(),
    device_display_name: z.string().max(255).optional(),
    profile_tag: z.string().max(255).optional(),
    lang: z.string().max(32).optional(),
    data: z.record(z.string(), z.unknown()).refine((d) => JSON.stringify(d).length <= 4096, 'data is at most 4 KiB').optional(),
    append: z.boolean().optional(),
  })
  .loose();

export function pushRoutes(s: Services): RouteDef[] {
  return [
    userRoute('GET', `${V3}/pushrules/`, ({ requester }) => s.push.rules(requester.userId)),
    userRoute('GET', `${V3}/pushrules/global/`, async ({ requester }) => (await s.push.rules(requester.userId)).global),
    userRoute('GET', RULE, ({ requester, params }) => s.push.rule(requester.userId, kindOf(params), ruleIdOf(params))),
    userRoute(
      'PUT',
      RULE,
      async ({ requester, params, body, query }) => {
        const kind = kindOf(params);
        await s.push.putRule(requester.userId, kind, ruleIdOf(params), body, { before: query.before, after: query.after });
        return {};
      },
      { body: z.object({ actions: z.array(z.unknown()).max(20), conditions: z.array(z.unknown()).max(20).optional(), pattern: z.string().max(1024).optional() }).loose() },
    ),
    userRoute('DELETE', RULE, async ({ requester, params }) => {
      await s.push.deleteRule(requester.userId, kindOf(params), ruleIdOf(params));
      return {};
    }),
    userRoute('GET', `${RULE}/enabled`, async ({ requester, params }) => ({
      enabled: (await s.push.rule(requester.userId, kindOf(params), ruleIdOf(params))).enabled,
    })),
    userRoute(
      'PUT',
      `${RULE}/enabled`,
      async ({ requester, params, body }) => {
        await s.push.setEnabled(requester.userId, kindOf(params), ruleIdOf(params), body.enabled);
        return {};
      },
      { body: z.object({ enabled: z.boolean() }).loose() },
    ),
    userRoute('GET', `${RULE}/actions`, async ({ requester, params }) => ({
      actions: (await s.push.rule(requester.userId, kindOf(params), ruleIdOf(params))).actions,
    })),
    userRoute(
      'PUT',
      `${RULE}/actions`,
      async ({ requester, params, body }) => {
        await s.push.setActions(requester.userId, kindOf(params), ruleIdOf(params), parseActions(body.actions));
        return {};
      },
      { body: z.object({ actions: z.array(z.unknown()).max(20) }).loose() },
    ),
    userRoute('GET', `${V3}/pushers`, async ({ requester }) => ({ pushers: await s.push.pushers(requester.userId) })),
    userRoute(
      'POST',
      `${V3}/pushers/set`,
      async ({ requester, body }) => {
        await s.push.setPusher(requester.userId, body);
        return {};
      },
      { body: pusherBody },
    ),
    userRoute('GET', `${V3}/notifications`, ({ requester, query }) => {
      let limit = 20;
      if (query.limit !== undefined) {
        if (!/^[0-9]{1,4}$/.test(query.limit)) throw invalidParam('limit must be a positive integer.');
        limit = Math.min(100, Math.max(1, Number(query.limit)));
      }
      return s.push.notifications(requester.userId, query.from, limit, query.only);
    }),
  ];
}
