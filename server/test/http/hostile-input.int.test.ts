// Hostile input against every route of the server, driven by the route table itself
// (src/http/router.ts): a route added later is attacked too. Every answer goes through
// SpecApi, which refuses 5xx, non-JSON bodies, errors without errcode/error, and bodies that
// do not match the spec's schema for their status.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { RouteDef } from '../../src/http/route.ts';
import { allRoutes } from '../../src/http/router.ts';
import { enc } from '../support/client.ts';
import { encAny, fill, paramsOf, unwrap, wrongValuesFor } from '../support/hostile.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../support/server.ts';
import { CallLog, SpecApi, expectError, ok, registerSpecUser, routePattern, type SpecUser } from '../support/spec-client.ts';

const MAX_BODY = 2 * 1024 * 1024;

/** Values an attacker puts where an ID goes. */
const HOSTILE_STRINGS = [
  `"quoted"`,
  `it's`,
  `'; DROP TABLE events; --`,
  `' OR '1'='1`,
  `!x' OR 1=1 --:localhost`,
  `@x:localhost'); DELETE FROM users; --`,
  `$ev"}); --`,
  `../../../etc/passwd`,
  `..`,
  `%2e%2e%2f`,
  `%`,
  `*`,
  `\\`,
  `<script>alert(1)</script>`,
  `ünïcødé 😀 \u202e`,
  `\u0000`,
  `a\u0000b`,
  `\ud800`,
  ` `,
  'a'.repeat(5000),
];

const EXPENSIVE = new Set(['POST /_matrix/client/v3/login', 'POST /_matrix/client/v3/createRoom']);

function isGet(r: RouteDef): boolean {
  return r.method === 'GET';
}

function shapeOf(r: RouteDef): Record<string, z.ZodType> | undefined {
  return r.body instanceof z.ZodObject ? (r.body.shape as Record<string, z.ZodType>) : undefined;
}

describe('hostile input on every route', () => {
  let server: TestServer;
  const log = new CallLog();
  let anon: SpecApi;
  let alice: SpecUser;
  let mallory: SpecUser;
  let routes: RouteDef[];
  let roomId: string;
  let eventId: string;
  let filterId: string;
  /** Realistic values for each path parameter name. */
  let values: Record<string, string>;
  /** A valid body for each non-GET route, so that a hostile parameter reaches the handler. */
  let bodies: Record<string, unknown>;

  beforeAll(async () => {
    server = await startTestServer();
    anon = new SpecApi(server.url, undefined, log);
    alice = await registerSpecUser(server.url, log);
    mallory = await registerSpecUser(server.url, log);
    // The Matrix API (and Synapse's admin registration). The crisis API under /_tocsin and its
    // ack pages (HTML) are another group, attacked by their own tests.
    routes = allRoutes(server.services, server.crisis).filter((r) => !r.path.startsWith('/_tocsin/') && !r.path.startsWith('/ack/'));
    roomId = ok(await alice.api.post('/_matrix/client/v3/createRoom', { preset: 'public_chat', name: 'fuzz' })).room_id;
    ok(await mallory.api.post(`/_matrix/client/v3/join/${enc(roomId)}`, {}));
    eventId = ok(await alice.api.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t1`, { msgtype: 'm.text', body: 'hello' })).event_id;
    filterId = ok(await mallory.api.post(`/_matrix/client/v3/user/${enc(mallory.userId)}/filter`, { room: { timeline: { limit: 5 } } })).filter_id;
    values = {
      roomId,
      roomIdOrAlias: roomId,
      eventId,
      userId: mallory.userId,
      type: 'org.example.fuzz',
      eventType: 'org.example.fuzz',
      stateKey: 'k',
      txnId: 'txn',
      receiptType: 'm.read',
      deviceId: mallory.deviceId,
      filterId,
      roomAlias: '#fuzz-alias:localhost',
    };
    const V3 = '/_matrix/client/v3';
    bodies = {
      [`POST ${V3}/login`]: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'nobody' }, password: 'wrong' },
      // No `auth`: each UIA route stops at its 401 challenge, nothing is changed.
      [`POST ${V3}/register`]: { username: 'fuzzer', password: 'secret' },
      [`POST ${V3}/account/password`]: { new_password: 'x' },
      [`POST ${V3}/account/deactivate`]: {},
      [`DELETE ${V3}/devices/:deviceId`]: {},
      [`POST ${V3}/delete_devices`]: { devices: ['NOPE'] },
      [`POST /_synapse/admin/v1/register`]: { nonce: 'n', username: 'u', password: 'p', mac: 'm' },
      [`PUT ${V3}/devices/:deviceId`]: { display_name: 'phone' },
      [`PUT ${V3}/profile/:userId/displayname`]: { displayname: 'Mallory' },
      [`PUT ${V3}/profile/:userId/avatar_url`]: { avatar_url: 'mxc://localhost/abc' },
      [`POST ${V3}/createRoom`]: { name: 'x' },
      [`POST ${V3}/join/:roomIdOrAlias`]: { reason: 'r' },
      [`POST ${V3}/rooms/:roomId/join`]: { reason: 'r' },
      [`POST ${V3}/rooms/:roomId/invite`]: { user_id: '@nobody:localhost' },
      [`POST ${V3}/rooms/:roomId/kick`]: { user_id: '@nobody:localhost' },
      [`POST ${V3}/rooms/:roomId/ban`]: { user_id: alice.userId },
      [`POST ${V3}/rooms/:roomId/unban`]: { user_id: '@nobody:localhost' },
      [`PUT ${V3}/directory/room/:roomAlias`]: { room_id: roomId },
      [`PUT ${V3}/rooms/:roomId/send/:eventType/:txnId`]: { msgtype: 'm.text', body: 'x' },
      [`PUT ${V3}/rooms/:roomId/state/:eventType{/:stateKey}`]: { v: 1 },
      [`PUT ${V3}/rooms/:roomId/redact/:eventId/:txnId`]: { reason: 'r' },
      [`POST ${V3}/rooms/:roomId/receipt/:receiptType/:eventId`]: {},
      [`POST ${V3}/rooms/:roomId/read_markers`]: { 'm.fully_read': eventId },
      [`PUT ${V3}/rooms/:roomId/typing/:userId`]: { typing: true, timeout: 1000 },
      [`PUT ${V3}/user/:userId/account_data/:type`]: { a: 1 },
      [`PUT ${V3}/user/:userId/rooms/:roomId/account_data/:type`]: { a: 1 },
      [`POST ${V3}/user/:userId/filter`]: {},
    };
  });

  afterAll(async () => {
    await closeAllTestServers();
  });

  const key = (r: RouteDef) => `${r.method} ${r.path}`;
  const offSpec = (r: RouteDef) => !r.path.startsWith('/_matrix/') && !r.path.startsWith('/.well-known/');
  const bodyRoutes = () => routes.filter((r) => !isGet(r) && !r.rawBody);

  it('answers unparseable JSON with 400 M_NOT_JSON on every route that reads a body', async () => {
    for (const r of bodyRoutes()) {
      for (const raw of ['{"a":', '{a: 1}', "{'a': 1}", 'nul', '\xff\xfe{', '{"a":1}}', '[1,]']) {
        for (const api of [mallory.api, anon]) {
          const res = await api.call(r.method, fill(r.path, values), { body: raw, offSpec: offSpec(r) });
          expectError(res, 400, 'M_NOT_JSON');
        }
      }
      // Whatever the Content-Type says.
      const res = await mallory.api.call(r.method, fill(r.path, values), { body: '{"a":', headers: { 'content-type': 'text/plain' }, offSpec: offSpec(r) });
      expectError(res, 400, 'M_NOT_JSON');
    }
  });

  it('answers JSON that is not an object with 400 M_BAD_JSON', async () => {
    for (const r of bodyRoutes()) {
      for (const raw of ['[]', '[{}]', '"x"', '42', 'true', 'null']) {
        const res = await mallory.api.call(r.method, fill(r.path, values), { body: raw, offSpec: offSpec(r) });
        expectError(res, 400, 'M_BAD_JSON');
      }
    }
  });

  it('answers a wrong type for each body field with 400 M_BAD_JSON', async () => {
    let tried = 0;
    for (const r of bodyRoutes()) {
      const shape = shapeOf(r);
      if (!shape) continue;
      const base = (bodies[key(r)] ?? {}) as Record<string, unknown>;
      for (const [field, type] of Object.entries(shape)) {
        for (const wrong of wrongValuesFor(type)) {
          // 1e400 cannot be written with JSON.stringify: send the text.
          const body = wrong === 1e400 ? JSON.stringify({ ...base, [field]: 0 }).replace(`"${field}":0`, `"${field}":1e400`) : { ...base, [field]: wrong };
          const res = await mallory.api.call(r.method, fill(r.path, values), { body, offSpec: offSpec(r) });
          expectError(res, 400, 'M_BAD_JSON');
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(100);
  });

  it('refuses bodies over 2 MiB with 413 M_TOO_LARGE, with or without a token', async () => {
    const huge = JSON.stringify({ body: 'x'.repeat(MAX_BODY) });
    for (const r of bodyRoutes()) {
      for (const api of [mallory.api, anon]) {
        const res = await api.call(r.method, fill(r.path, values), { body: huge, offSpec: offSpec(r) });
        expectError(res, 413, 'M_TOO_LARGE');
      }
    }
    // Just under the limit is read (and then judged on its merits).
    const under = JSON.stringify({ body: 'x'.repeat(MAX_BODY - 100) });
    const res = await mallory.api.put(`/_matrix/client/v3/user/${enc(mallory.userId)}/account_data/org.example.big`, under);
    expect(res.status).not.toBe(413);
  });

  it('answers 401 M_MISSING_TOKEN on every authenticated route without a token', async () => {
    for (const r of routes.filter((x) => x.auth === 'user')) {
      const headerSets: Array<Record<string, string>> = [{}, { authorization: 'Basic bWFsbG9yeTpwdw==' }, { authorization: 'Bearer' }, { authorization: '' }];
      for (const headers of headerSets) {
        const res = await anon.call(r.method, fill(r.path, values), { body: isGet(r) ? undefined : {}, headers, offSpec: offSpec(r) });
        expectError(res, 401, 'M_MISSING_TOKEN');
      }
    }
  });

  it('answers 401 M_UNKNOWN_TOKEN on every route for a token it does not know', async () => {
    for (const r of routes) {
      for (const token of ['tct_nope', `${mallory.token}x`, `'OR'1'='1;--`, 'x'.repeat(4000)]) {
        const res = await anon.as(token).call(r.method, fill(r.path, values), { body: isGet(r) ? undefined : {}, offSpec: offSpec(r) });
        expectError(res, 401, 'M_UNKNOWN_TOKEN');
      }
      // The deprecated query parameter form too.
      const path = fill(r.path, values);
      const res = await anon.call(r.method, `${path}${path.includes('?') ? '&' : '?'}access_token=tct_nope`, { body: isGet(r) ? undefined : {}, offSpec: offSpec(r) });
      expectError(res, 401, 'M_UNKNOWN_TOKEN');
    }
  });

  it('survives hostile values in every path parameter', async () => {
    let tried = 0;
    for (const r of routes) {
      const names = paramsOf(r.path);
      for (const name of names) {
        // A literal `..` segment is resolved by fetch itself (encoded dot segments are tried below).
        for (const hostile of HOSTILE_STRINGS.filter((h) => h !== '..')) {
          const path = fill(r.path, { ...values, [name]: hostile });
          const res = await mallory.api.call(r.method, path, { body: isGet(r) ? undefined : (bodies[key(r)] ?? {}), offSpec: offSpec(r) });
          expect([200, 400, 403, 404, 409, 413], `${r.method} ${path}: ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(500);
  }, 180_000);

  it('survives hostile values in every string field of a body', async () => {
    let tried = 0;
    for (const r of bodyRoutes()) {
      const shape = shapeOf(r);
      if (!shape) continue;
      if (r.path.endsWith('/leave')) continue; // a valid body would make mallory leave
      const base = (bodies[key(r)] ?? {}) as Record<string, unknown>;
      for (const [field, type] of Object.entries(shape)) {
        const inner = unwrap(type);
        const asArray = inner instanceof z.ZodArray && unwrap(inner.element as z.ZodType) instanceof z.ZodString;
        if (!(inner instanceof z.ZodString) && !asArray) continue;
        // Each login costs an argon2 check and each createRoom a room: fewer values there.
        const strings = EXPENSIVE.has(key(r)) ? HOSTILE_STRINGS.filter((_h, i) => [0, 2, 4, 14, 15, 17, 19].includes(i)) : HOSTILE_STRINGS;
        for (const hostile of strings) {
          const res = await mallory.api.call(r.method, fill(r.path, values), { body: { ...base, [field]: asArray ? [hostile] : hostile }, offSpec: offSpec(r) });
          expect([200, 400, 401, 403, 404, 409], `${key(r)} ${field}=${JSON.stringify(hostile).slice(0, 50)}: ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(300);
  }, 180_000);

  it('survives hostile event content and keys', async () => {
    const send = (content: unknown, type = 'm.room.message') =>
      mallory.api.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/${enc(type)}/${Math.random()}`, content);
    for (const hostile of HOSTILE_STRINGS) {
      const res = await send({ msgtype: 'm.text', body: hostile, [hostile]: hostile });
      expect([200, 400], `${JSON.stringify(hostile)}: ${JSON.stringify(res.body)}`).toContain(res.status);
      if (res.status === 400) expect(['M_BAD_JSON', 'M_NOT_JSON', 'M_INVALID_PARAM']).toContain(res.body.errcode);
    }
    // Numbers canonical JSON cannot sign: floats, out-of-range integers.
    for (const raw of ['{"n":1.5}', '{"n":9007199254740992}', '{"n":-9007199254740992}', '{"n":1e400}', '{"deep":[[[[{"n":0.1}]]]]}']) {
      expectError(await send(raw), 400, 'M_BAD_JSON');
    }
    // Deep nesting: valid JSON of a reasonable size, refused before it can overflow a stack.
    for (const depth of [5000, 200_000]) {
      expectError(await send(`{"d":${'['.repeat(depth)}${']'.repeat(depth)}}`), 400, ['M_BAD_JSON', 'M_NOT_JSON']);
    }
    expect((await send(`{"d":${'['.repeat(50)}${']'.repeat(50)}}`)).status).toBe(200);
    // Duplicate keys, a BOM: handled like JSON.parse does, never a crash.
    expect([200, 400]).toContain((await send('{"body":"a","body":"b","msgtype":"m.text"}')).status);
    expect([200, 400]).toContain((await send('\ufeff{"body":"a"}')).status);
    // __proto__ and friends are plain keys.
    const proto = await send('{"__proto__":{"admin":true},"constructor":{"prototype":{}},"body":"p"}');
    expect(proto.status).toBe(200);
    const event = ok(await mallory.api.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(proto.body.event_id)}`));
    expect(Object.keys(event.content)).toContain('__proto__');
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('survives hostile query parameters', async () => {
    const r = enc(roomId);
    const e = enc(eventId);
    const cases: Array<[string, string[]]> = [
      ['/_matrix/client/v3/sync', ['since', 'timeout', 'filter', 'full_state', 'set_presence']],
      [`/_matrix/client/v3/rooms/${r}/messages`, ['from', 'to', 'dir', 'limit', 'filter']],
      [`/_matrix/client/v3/rooms/${r}/context/${e}`, ['limit', 'filter']],
      [`/_matrix/client/v3/rooms/${r}/members`, ['at', 'membership', 'not_membership']],
      [`/_matrix/client/v3/rooms/${r}/state/m.room.name/`, ['format']],
      ['/_matrix/client/v3/register/available', ['username']],
    ];
    const extra = ['-1', '1e999', 'NaN', 'Infinity', '99999999999999999999', '0x10', '{"limit":"x"}', '{"room":{"timeline":{"limit":-1}}}', '{"types":[1]}', '{', '[]', 's-1_0', 's1_1_1', 't99999999999999999'];
    let tried = 0;
    for (const [path, names] of cases) {
      for (const name of names) {
        for (const hostile of [...HOSTILE_STRINGS, ...extra]) {
          const res = await mallory.api.get(`${path}?${name}=${encAny(hostile)}`);
          expect([200, 400, 403, 404], `${path}?${name}=${hostile.slice(0, 40)}: ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
          tried++;
        }
      }
    }
    // Repeated parameters and bracket syntax are not objects.
    expect([200, 400]).toContain((await mallory.api.get(`/_matrix/client/v3/rooms/${r}/messages?limit=1&limit=2&dir=b&dir=f`)).status);
    expect([200, 400]).toContain((await mallory.api.get(`/_matrix/client/v3/rooms/${r}/messages?limit[a]=1&dir[]=b`)).status);
    expect(tried).toBeGreaterThan(300);
  }, 180_000);

  it('answers broken percent-encoding and path tricks with a JSON error', async () => {
    const bad = ['%', '%ZZ', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%FF', '%00'];
    for (const b of bad) {
      for (const path of [
        `/_matrix/client/v3/rooms/${b}/state`,
        `/_matrix/client/v3/rooms/${enc(roomId)}/event/${b}`,
        `/_matrix/client/v3/profile/${b}`,
        `/_matrix/client/v3/user/${enc(mallory.userId)}/account_data/${b}`,
      ]) {
        const res = await mallory.api.call('GET', path, { offSpec: true });
        expect([400, 403, 404], `${path}: ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
      }
    }
    // Encoded dot segments stay inside the parameter (fetch would resolve literal ones).
    const res = await mallory.api.get(`/_matrix/client/v3/rooms/%2e%2e%2f%2e%2e%2fversions/state`);
    expect([400, 403, 404]).toContain(res.status);
    // A double slash or a trailing slash does not reach another route.
    expect([404, 405]).toContain((await mallory.api.call('GET', '/_matrix/client/v3//sync', { offSpec: true })).status);
  });

  it('answers unknown endpoints with 404 M_UNRECOGNIZED', async () => {
    for (const path of [
      '/',
      '/_matrix',
      '/_matrix/client/v3/nope',
      '/_matrix/client/v3/rooms/!a:localhost/nope',
      '/_matrix/client/v4/sync',
      '/_matrix/client/v3/sync/extra',
      '/_matrix/federation/v1/version',
      '/_matrix/key/v2/server',
      '/_synapse/admin/v1/users',
      '/.well-known/matrix/server',
      `/_matrix/client/v3/${'a/'.repeat(500)}`,
      "/_matrix/client/v3/' OR 1=1 --",
    ]) {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
        // GET / is the web app (test/pwa); other methods on it are unknown endpoints.
        if (path === '/' && method === 'GET') continue;
        for (const api of [mallory.api, anon]) {
          const res = await api.call(method, path, { body: method === 'GET' ? undefined : {}, offSpec: true });
          expectError(res, 404, 'M_UNRECOGNIZED');
        }
      }
    }
  });

  it('answers a known path with a wrong method with 405 M_UNRECOGNIZED', async () => {
    const byPath = new Map<string, Set<string>>();
    for (const r of routes) byPath.set(r.path, (byPath.get(r.path) ?? new Set()).add(r.method));
    let tried = 0;
    for (const [path, methods] of byPath) {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
        if (methods.has(method)) continue;
        // Another route may own this concrete path with that method (e.g. state with and without key).
        const concrete = fill(path, values);
        if (routes.some((r) => r.method === method && routePattern(r.path).test(concrete))) continue;
        for (const api of [mallory.api, anon]) {
          const res = await api.call(method, concrete, { body: method === 'GET' ? undefined : {}, offSpec: true });
          expectError(res, 405, 'M_UNRECOGNIZED');
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(60);
  });

  it('answers a CORS preflight on every path with the spec headers, and never runs the endpoint', async () => {
    const paths = [...new Set(routes.map((r) => fill(r.path, values))), '/_matrix/client/v3/nope', '/'];
    for (const path of paths) {
      const res = await fetch(`${server.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.element.io', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization, content-type' },
      });
      expect(res.status, path).toBeLessThan(300);
      expect(res.headers.get('access-control-allow-origin'), path).toBe('*');
      const methods = (res.headers.get('access-control-allow-methods') ?? '').split(',').map((m) => m.trim());
      expect(methods, path).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS']));
      const headers = (res.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
      expect(headers, path).toEqual(expect.arrayContaining(['x-requested-with', 'content-type', 'authorization']));
    }
    // OPTIONS on /logout with a real token does not log out.
    await fetch(`${server.url}/_matrix/client/v3/logout`, { method: 'OPTIONS', headers: { authorization: `Bearer ${mallory.token}` } });
    ok(await mallory.api.get('/_matrix/client/v3/account/whoami'));
  });

  it('sends the CORS headers on answers and errors alike', async () => {
    for (const [path, status] of [
      ['/_matrix/client/versions', 200],
      ['/_matrix/client/v3/nope', 404],
      ['/_matrix/client/v3/sync', 401],
    ] as const) {
      const res = await fetch(`${server.url}${path}`, { headers: { origin: 'https://app.element.io' } });
      expect(res.status).toBe(status);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      await res.text();
    }
  });

  it('is still up, with its data intact, after all of the above', async () => {
    ok(await anon.get('/_matrix/client/versions'));
    expect(ok(await mallory.api.get('/_matrix/client/v3/account/whoami')).user_id).toBe(mallory.userId);
    const msgs = ok(await alice.api.get(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1000`));
    expect(msgs.chunk.some((e: { event_id: string }) => e.event_id === eventId)).toBe(true);
    const sync = ok(await alice.api.get('/_matrix/client/v3/sync?timeout=0'));
    expect(Object.keys(sync.rooms.join)).toContain(roomId);
    const health = await anon.call('GET', '/health', { offSpec: true });
    expect(health.body).toEqual({ status: 'ok' });
  });
});
