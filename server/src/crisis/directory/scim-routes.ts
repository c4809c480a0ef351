import { timingSafeEqual } from 'node:crypto';
import type { Response } from 'express';
import { MatrixError } from '../../errors.ts';
import type { ErrorFormat } from '../../http/error-handler.ts';
import { ownAuthRoute, type PublicContext, type RouteDef } from '../../http/route.ts';
import type { CrisisServices } from '../crisis-services.ts';
import { ERROR_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, ScimError, USER_SCHEMA } from './scim-service.ts';

const SCIM = '/_tocsin/scim/v2';
const CONTENT_TYPE = 'application/scim+json';

/** SCIM's error shape for errors raised before a SCIM handler runs (http/error-handler.ts). */
export const scimErrorFormat: ErrorFormat = {
  prefix: `${SCIM}/`,
  contentType: CONTENT_TYPE,
  // The Matrix errcode stays beside SCIM's fields, as on the errors SCIM handlers raise.
  body: (error) => (error instanceof ScimError ? error.body() : { ...error.body(), schemas: [ERROR_SCHEMA], status: String(error.status), detail: error.message }),
};

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function send(res: Response, status: number, body: unknown): void {
  res.status(status).type(CONTENT_TYPE).send(JSON.stringify(body));
}

function page(query: Record<string, string | undefined>): { startIndex: number; count: number } {
  const startIndex = Math.max(Number.parseInt(query.startIndex ?? '1', 10) || 1, 1);
  const raw = Number.parseInt(query.count ?? '100', 10);
  return { startIndex, count: Math.min(Math.max(Number.isNaN(raw) ? 100 : raw, 0), 1000) };
}

export function scimRoutes(c: CrisisServices): RouteDef[] {
  const token = c.directory.config.scim?.token;
  const scim = c.directory.scim;
  /** Bearer token from directory.scim.token_file; SCIM errors for everything that goes wrong. */
  const route = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, handler: (ctx: PublicContext<Record<string, unknown>>) => Promise<[number, unknown]>) =>
    ownAuthRoute(method, `${SCIM}${path}`, async (ctx) => {
      try {
        if (!token) throw new ScimError(404, 'SCIM is not configured (directory.scim.token_file)');
        const given = /^Bearer\s+(\S+)$/i.exec(ctx.req.headers.authorization ?? '')?.[1];
        if (!given || !sameSecret(given, token)) throw new ScimError(401, 'A valid bearer token is required');
        const [status, body] = await handler(ctx);
        if (status === 204) ctx.res.status(204).end();
        else send(ctx.res, status, body);
      } catch (err) {
        if (!(err instanceof MatrixError)) throw err;
        const e = err instanceof ScimError ? err : new ScimError(err.status, err.message);
        if (e.status === 401) ctx.res.setHeader('WWW-Authenticate', 'Bearer');
        send(ctx.res, e.status, e.body());
      }
    });

  return [
    route('GET', '/Users', async ({ query }) => [200, await scim.listUsers(query.filter, page(query).startIndex, page(query).count)]),
    route('POST', '/Users', async ({ body }) => [201, await scim.createUser(body)]),
    route('GET', '/Users/:id', async ({ params }) => [200, await scim.getUser(params.id!)]),
    route('PUT', '/Users/:id', async ({ params, body }) => [200, await scim.replaceUser(params.id!, body)]),
    route('PATCH', '/Users/:id', async ({ params, body }) => [200, await scim.patchUser(params.id!, body)]),
    route('DELETE', '/Users/:id', async ({ params }) => {
      await scim.deleteUser(params.id!);
      return [204, undefined];
    }),
    route('GET', '/Groups', async ({ query }) => [200, await scim.listGroups(query.filter, page(query).startIndex, page(query).count)]),
    route('POST', '/Groups', async ({ body }) => [201, await scim.createGroup(body)]),
    route('GET', '/Groups/:id', async ({ params }) => [200, await scim.getGroup(params.id!)]),
    route('PUT', '/Groups/:id', async ({ params, body }) => [200, await scim.replaceGroup(params.id!, body)]),
    route('PATCH', '/Groups/:id', async ({ params, body }) => [200, await scim.patchGroup(params.id!, body)]),
    route('DELETE', '/Groups/:id', async ({ params }) => {
      await scim.deleteGroup(params.id!);
      return [204, undefined];
    }),
    route('GET', '/ServiceProviderConfig', async () => [
      200,
      {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
        documentationUri: 'docs/directory.md',
        patch: { supported: true },
        bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
        filter: { supported: true, maxResults: 1000 },
        changePassword: { supported: false },
        sort: { supported: false },
        etag: { supported: false },
        authenticationSchemes: [{ type: 'oauthbearertoken', name: 'Bearer token', description: 'The token of directory.scim.token_file', primary: true }],
        meta: { resourceType: 'ServiceProviderConfig' },
      },
    ]),
    route('GET', '/ResourceTypes', async () => [200, { schemas: [LIST_SCHEMA], totalResults: 2, Resources: RESOURCE_TYPES }]),
    route('GET', '/Schemas', async () => [200, { schemas: [LIST_SCHEMA], totalResults: 2, Resources: SCHEMAS }]),
  ];
}

const RESOURCE_TYPES = [
  { schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'User', name: 'User', endpoint: '/Users', schema: USER_SCHEMA, meta: { resourceType: 'ResourceType' } },
  { schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'Group', name: 'Group', endpoint: '/Groups', schema: GROUP_SCHEMA, meta: { resourceType: 'ResourceType' } },
];

const attr = (name: string, type: string, extra: Record<string, unknown> = {}) => ({
  name,
  type,
  multiValued: false,
  required: false,
  caseExact: false,
  mutability: 'readWrite',
  returned: 'default',
  uniqueness: 'none',
  ...extra,
});

const SCHEMAS = [
  {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id: USER_SCHEMA,
    name: 'User',
    attributes: [
      attr('userName', 'string', { required: true, uniqueness: 'server', mutability: 'immutable' }),
      attr('name', 'complex', { subAttributes: [attr('formatted', 'string'), attr('givenName', 'string'), attr('familyName', 'string')] }),
      attr('displayName', 'string'),
      attr('active', 'boolean'),
      attr('emails', 'complex', { multiValued: true, subAttributes: [attr('value', 'string'), attr('type', 'string'), attr('primary', 'boolean')] }),
      attr('phoneNumbers', 'complex', { multiValued: true, subAttributes: [attr('value', 'string'), attr('type', 'string'), attr('primary', 'boolean')] }),
      attr('preferredLanguage', 'string'),
      attr('timezone', 'string'),
      attr('externalId', 'string', { caseExact: true }),
    ],
    meta: { resourceType: 'Schema', location: `/Schemas/${USER_SCHEMA}` },
  },
  {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id: GROUP_SCHEMA,
    name: 'Group',
    attributes: [
      attr('displayName', 'string', { required: true, uniqueness: 'server' }),
      attr('members', 'complex', { multiValued: true, subAttributes: [attr('value', 'string', { mutability: 'immutable' }), attr('display', 'string', { mutability: 'readOnly' })] }),
      attr('externalId', 'string', { caseExact: true }),
    ],
    meta: { resourceType: 'Schema', location: `/Schemas/${GROUP_SCHEMA}` },
  },
];
