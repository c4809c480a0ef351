/**
 * A test client that checks every answer it gets against the Matrix spec.
 *
 * `SpecApi` is the `Api` of client.ts with one difference: after each request it
 * - refuses any 5xx (bad input must never crash a handler),
 * - requires a JSON body (`Content-Type: application/json`) whenever there is a body,
 * - requires `{errcode, error}` strings on every error (a UIA 401 that carries `flows`
 *   may omit them, as the spec says),
 * - validates the body with `expectSpecResponse` against the operation's schema for that
 *   status (successes and errors alike),
 * - records the call in a `CallLog`, so a test file can prove it reached every route of
 *   its group (`expectRoutesCovered`).
 * Calls to paths the spec does not define (Synapse admin API, unknown endpoints, wrong
 * methods) must say so with `{ offSpec: true }`; they get every check but the schema.
 */
import { expect } from 'vitest';
import type { RouteDef } from '../../src/http/route.ts';
import { Api, registerUser, type Reply, type TestUser } from './client.ts';
import { expectSpecResponse, findSpecOperation } from './spec-schemas.ts';

export interface CallRecord {
  method: string;
  /** Path without the query string, as sent (percent-encoded). */
  path: string;
  status: number;
}

/** Every call made through the SpecApis that share it. */
export class CallLog {
  readonly calls: CallRecord[] = [];

  record(call: CallRecord): void {
    this.calls.push(call);
  }

  /** Fails unless each route was answered at least once with a 2xx. */
  expectRoutesCovered(routes: RouteDef[]): void {
    const missing: string[] = [];
    for (const r of routes) {
      const re = routePattern(r.path);
      const hit = this.calls.some((c) => c.method === r.method && c.status >= 200 && c.status < 300 && re.test(c.path));
      if (!hit) missing.push(`${r.method} ${r.path}`);
    }
    expect(missing, 'routes never answered with a 2xx in this file').toEqual([]);
  }
}

/** An express route path (`:param`, `{/:optional}`) as a regular expression over request paths. */
export function routePattern(path: string): RegExp {
  let re = '';
  for (let i = 0; i < path.length; ) {
    if (path.startsWith('{/:', i)) {
      const end = path.indexOf('}', i);
      re += '(?:/[^/]*)?';
      i = end + 1;
    } else if (path[i] === ':') {
      i++;
      while (i < path.length && /\w/.test(path[i]!)) i++;
      re += '[^/]+';
    } else {
      re += path[i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i++;
    }
  }
  return new RegExp(`^${re}/?$`);
}

export interface RequestOptions {
  /** Sent as is when a string (malformed JSON), JSON-encoded otherwise. */
  body?: unknown;
  headers?: Record<string, string>;
  /** The path is deliberately outside the spec: check everything but the schema. */
  offSpec?: boolean;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The checks every answer must pass; throws a readable error otherwise. */
export function checkReply(method: string, path: string, reply: Reply, offSpec = false): void {
  const where = `${method} ${path.length > 300 ? `${path.slice(0, 300)}…` : path} -> ${reply.status}`;
  if (reply.status >= 500) throw new Error(`${where}: server error ${JSON.stringify(reply.body)}`);
  if (reply.body !== undefined) {
    const type = reply.headers.get('content-type') ?? '';
    if (!/^application\/json\b/.test(type)) throw new Error(`${where}: Content-Type ${type || '(none)'}, expected application/json`);
    // Api leaves a body it cannot parse as text; no Matrix answer is a bare JSON string either.
    if (typeof reply.body !== 'object' || reply.body === null) throw new Error(`${where}: body is not a JSON object or array: ${String(reply.body).slice(0, 200)}`);
  }
  if (reply.status >= 400) {
    const b = reply.body as unknown;
    const uiaChallenge = reply.status === 401 && isObject(b) && Array.isArray(b.flows);
    if (!uiaChallenge) {
      if (!isObject(b) || typeof b.errcode !== 'string' || typeof b.error !== 'string') {
        throw new Error(`${where}: an error must be a JSON object with errcode and error, got ${JSON.stringify(b)}`);
      }
      if (!/^M_[A-Z0-9_]+$/.test(b.errcode)) throw new Error(`${where}: errcode ${b.errcode} is not a Matrix errcode`);
    }
  }
  if (!offSpec) {
    if (!findSpecOperation(method, path)) throw new Error(`${where}: not a spec endpoint (pass offSpec: true if that is deliberate)`);
    const errcode = isObject(reply.body) ? reply.body.errcode : undefined;
    if (reply.status === 401 && (errcode === 'M_MISSING_TOKEN' || errcode === 'M_UNKNOWN_TOKEN')) {
      // UIA endpoints document their 401 as the UIA challenge only, yet the spec's "Using
      // access tokens" section answers a missing or unknown token with 401 and these codes
      // on every endpoint. Such a 401 is checked against the spec's token-error schema.
      expectSpecResponse('GET', '/_matrix/client/v3/account/whoami', 401, reply.body);
    } else if (reply.status === 200 && method === 'GET' && STATE_EVENT_PATH.test(path) && /[?&]format=event(&|$)/.test(path)) {
      // Spec bug: this 200 is `oneOf: [{type: object}, state_event]`, and a full state event
      // is also an object, so no valid `format=event` answer can match exactly one. It is
      // checked as the client event it is (the schema of GET /event), with its state_key.
      const [, roomId] = STATE_EVENT_PATH.exec(path)!;
      expectSpecResponse('GET', `/_matrix/client/v3/rooms/${roomId}/event/$x`, 200, reply.body);
      if (!isObject(reply.body) || typeof reply.body.state_key !== 'string') throw new Error(`${where}: a state event without state_key`);
    } else {
      expectSpecResponse(method, path, reply.status, reply.body);
    }
  }
}

const STATE_EVENT_PATH = /^\/_matrix\/client\/(?:v3|r0)\/rooms\/([^/?]+)\/state\/[^/?]+(?:\/[^?]*)?(?:\?|$)/;

export class SpecApi extends Api {
  readonly log: CallLog;

  constructor(baseUrl: string, token?: string, log: CallLog = new CallLog()) {
    super(baseUrl, token);
    this.log = log;
  }

  override as(token: string | undefined): SpecApi {
    return new SpecApi(this.baseUrl, token, this.log);
  }

  override async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    return this.call<T>(method, path, { body, headers });
  }

  /** A request with every option; all the short forms come here. */
  async call<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<Reply<T>> {
    const reply = await super.request<T>(method, path, opts.body, opts.headers ?? {});
    this.log.record({ method: method.toUpperCase(), path: path.split('?')[0]!, status: reply.status });
    checkReply(method.toUpperCase(), path, reply, opts.offSpec ?? false);
    return reply;
  }
}

export interface SpecUser extends TestUser {
  api: SpecApi;
}

/** A fresh user (registerUser of client.ts) whose client checks every answer. */
export async function registerSpecUser(baseUrl: string, log: CallLog, name?: string, password?: string): Promise<SpecUser> {
  const user = await registerUser(baseUrl, name, password);
  return { ...user, api: new SpecApi(baseUrl, user.token, log) };
}

/** Asserts a Matrix error: the status and the errcode (the body shape was already checked). */
export function expectError(reply: Reply, status: number, errcode: string | string[]): void {
  const codes = Array.isArray(errcode) ? errcode : [errcode];
  const got = `${reply.status} ${JSON.stringify(reply.body)}`;
  expect(reply.status, got).toBe(status);
  expect(codes, got).toContain((reply.body as { errcode?: string })?.errcode);
}

/** Asserts a 200 and returns its body. */
export function ok<T = any>(reply: Reply<T>): T {
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return reply.body;
}

/** Polls `fn` until it returns a defined value (for eventually-visible effects). */
export async function eventually<T>(fn: () => Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------------------
// Short forms of the calls most tests make (all checked through SpecApi).

export const V3 = '/_matrix/client/v3';

let txnCounter = 0;

/** A fresh transaction id. */
export function txn(): string {
  return `t${process.pid}.${++txnCounter}.${Math.random().toString(36).slice(2, 7)}`;
}

export async function createRoom(api: SpecApi, body: Record<string, unknown> = {}): Promise<string> {
  return ok(await api.post(`${V3}/createRoom`, body)).room_id as string;
}

export async function sendMessage(api: SpecApi, roomId: string, body: string, txnId = txn()): Promise<string> {
  return ok(await api.put(`${V3}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${encodeURIComponent(txnId)}`, { msgtype: 'm.text', body })).event_id as string;
}

export async function sendState(api: SpecApi, roomId: string, type: string, stateKey: string, content: Record<string, unknown>): Promise<string> {
  return ok(await api.put(`${V3}/rooms/${encodeURIComponent(roomId)}/state/${encodeURIComponent(type)}/${encodeURIComponent(stateKey)}`, content)).event_id as string;
}

export async function join(api: SpecApi, roomId: string): Promise<void> {
  ok(await api.post(`${V3}/rooms/${encodeURIComponent(roomId)}/join`, {}));
}

export async function invite(api: SpecApi, roomId: string, userId: string): Promise<void> {
  ok(await api.post(`${V3}/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: userId }));
}

/** One /sync; `params` are query parameters (objects become inline JSON filters). */
export async function sync(api: SpecApi, params: Record<string, string | number | boolean | object | undefined> = {}): Promise<any> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    q.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  if (!q.has('timeout')) q.set('timeout', '0');
  return ok(await api.get(`${V3}/sync?${q}`));
}
