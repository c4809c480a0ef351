import type { Request, Response } from 'express';
import type { z } from 'zod';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface Requester {
  userId: string;
  deviceId: string;
  isAdmin: boolean;
  tokenHash: string;
  /** Set when an application service's as_token made the request. */
  appserviceId?: string;
}

export interface PublicContext<B> {
  req: Request;
  res: Response;
  body: B;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  /** Set when a valid access token came with the request. */
  requester: Requester | undefined;
}

export interface UserContext<B> extends PublicContext<B> {
  requester: Requester;
}

export interface RouteOptions<S extends z.ZodType | undefined> {
  /** Schema of the JSON body; a mismatch answers `M_BAD_JSON` before the handler runs. */
  body?: S;
  /** Leave the body unread (uploads stream it themselves). */
  rawBody?: boolean;
}

type BodyOf<S> = S extends z.ZodType ? z.output<S> : Record<string, unknown>;

export interface RouteDef {
  method: HttpMethod;
  path: string;
  /** 'none': the Authorization header is the handler's own (SCIM's bearer token). */
  auth: 'user' | 'optional' | 'none';
  body?: z.ZodType | undefined;
  rawBody?: boolean | undefined;
  /** Its result is sent as JSON (200) unless the handler answered itself. */
  handler: (ctx: UserContext<any>) => unknown;
}

/** A route that needs an access token. */
export function userRoute<S extends z.ZodType | undefined = undefined>(
  method: HttpMethod,
  path: string,
  handler: (ctx: UserContext<BodyOf<S>>) => unknown,
  options: RouteOptions<S> = {},
): RouteDef {
  return { method, path, auth: 'user', handler, body: options.body, rawBody: options.rawBody };
}

/** A route anybody may call; the requester is known if a valid token came along. */
export function publicRoute<S extends z.ZodType | undefined = undefined>(
  method: HttpMethod,
  path: string,
  handler: (ctx: PublicContext<BodyOf<S>>) => unknown,
  options: RouteOptions<S> = {},
): RouteDef {
  return { method, path, auth: 'optional', handler: handler as RouteDef['handler'], body: options.body, rawBody: options.rawBody };
}

/** A route that reads no Matrix access token: it checks its own credentials (SCIM). */
export function ownAuthRoute<S extends z.ZodType | undefined = undefined>(
  method: HttpMethod | 'PATCH',
  path: string,
  handler: (ctx: PublicContext<BodyOf<S>>) => unknown,
  options: RouteOptions<S> = {},
): RouteDef {
  return { method: method as HttpMethod, path, auth: 'none', handler: handler as RouteDef['handler'], body: options.body, rawBody: options.rawBody };
}
