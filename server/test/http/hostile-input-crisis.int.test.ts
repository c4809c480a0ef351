// Hostile input against every route of the crisis API (/_tocsin/...), its SCIM server and the
// acknowledgement pages, driven by the route table (src/http/router.ts) as the Matrix group is
// in hostile-input.int.test.ts: a crisis route added later is attacked too. An administrator
// holding every role sends them, so that hostile values reach the handlers, not only the
// permission checks. Never a 5xx; every error is a Matrix error (SCIM: a SCIM error; /ack/: a
// page); the server is still up with its data afterwards.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { RouteDef } from '../../src/http/route.ts';
import { allRoutes } from '../../src/http/router.ts';
import { Api, enc, registerAdmin, registerUser, type Reply, type TestUser } from '../support/client.ts';
import { encAny, fill, paramsOf, unwrap, wrongValuesFor } from '../support/hostile.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../support/server.ts';

const SCIM_TOKEN = 'scim-hostile-token-0123456789abcdef';
const MAX_BODY = 2 * 1024 * 1024;

const HOSTILE_STRINGS = [
  `"quoted"`,
  `'; DROP TABLE alerts; --`,
  `' OR '1'='1`,
  `@x:localhost'); DELETE FROM users; --`,
  `../../../etc/passwd`,
  `%2e%2e%2f`,
  `%`,
  `<script>alert(1)</script>`,
  `=cmd|' /C calc'!A0`,
  `ünïcødé 😀 \u202e`,
  `\u0000`,
  `a\u0000b`,
  `\ud800`,
  ` `,
  '-1',
  '99999999999999999999999',
  'a'.repeat(5000),
];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isScim = (p: string) => p.startsWith('/_tocsin/scim/');
const isAckPage = (p: string) => p.startsWith('/ack/');

/** The checks every answer of this group must pass. */
function check(r: RouteDef, where: string, reply: Reply): void {
  const at = `${where.length > 200 ? `${where.slice(0, 200)}…` : where} -> ${reply.status} ${JSON.stringify(reply.body)?.slice(0, 300)}`;
  expect(reply.status, at).toBeLessThan(500);
  if (reply.status < 400 || isAckPage(r.path)) return;
  const b = reply.body as unknown;
  if (isScim(r.path)) {
    // RFC 7644 §3.12: the error schema, and the status repeated as a string.
    expect(isObject(b) && Array.isArray(b.schemas) && b.status === String(reply.status), at).toBe(true);
    return;
  }
  expect(isObject(b) && typeof b.errcode === 'string' && /^M_[A-Z0-9_]+$/.test(b.errcode) && typeof b.error === 'string', at).toBe(true);
}

describe('hostile input on every crisis route', () => {
  let server: TestServer;
  let admin: TestUser;
  let mallory: TestUser;
  let anon: Api;
  let routes: RouteDef[];
  let values: Record<string, string>;
  let alertId: string;

  /** The caller for a route: SCIM's bearer token, the administrator otherwise. */
  const callerFor = (r: RouteDef, who: 'admin' | 'mallory' = 'admin'): Api => {
    if (isScim(r.path)) return new Api(server.url, who === 'admin' ? SCIM_TOKEN : mallory.token);
    return who === 'admin' ? admin.api : mallory.api;
  };

  const call = async (r: RouteDef, api: Api, where: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const reply = await api.request(r.method, where, body, headers);
    check(r, `${r.method} ${where}`, reply);
    return reply;
  };

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-hostile-crisis-'));
    writeFileSync(path.join(dir, 'scim-token'), `${SCIM_TOKEN}\n`);
    writeFileSync(path.join(dir, 'tocsin.yaml'), `directory:\n  scim: { token_file: ${path.join(dir, 'scim-token')} }\n`);
    server = await startTestServer({ TOCSIN_CONFIG: path.join(dir, 'tocsin.yaml') });
    anon = new Api(server.url);
    admin = await registerAdmin(server.url, 'fuzzadmin');
    mallory = await registerUser(server.url);
    routes = allRoutes(server.services, server.crisis).filter((r) => r.path.startsWith('/_tocsin/') || isAckPage(r.path));
    const created = await admin.api.post('/_tocsin/v1/alerts', { severity: 'info', title: 'Fuzz', body: 'hostile input run', audience: [mallory.userId] });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    alertId = created.body.id ?? created.body.alert_id;
    values = { alertId, userId: mallory.userId, deviceId: mallory.deviceId, name: 'fuzz-template', runId: '1', id: 'nope', token: 'nope', roomId: '!nope:localhost' };
  });

  afterAll(async () => {
    await closeAllTestServers();
  });

  const bodyRoutes = () => routes.filter((r) => r.method !== 'GET' && !r.rawBody);

  it('covers the crisis routes', () => {
    expect(routes.filter((r) => r.path.startsWith('/_tocsin/v1/')).length).toBeGreaterThan(20);
    expect(routes.filter((r) => isScim(r.path)).length).toBeGreaterThan(10);
  });

  it('answers unparseable JSON and JSON that is not an object with a 400', async () => {
    for (const r of bodyRoutes()) {
      for (const raw of ['{"a":', "{'a': 1}", '\xff\xfe{', '[1,]', '[]', '"x"', '42', 'null']) {
        const reply = await call(r, callerFor(r), fill(r.path, values), raw, isScim(r.path) ? { 'content-type': 'application/scim+json' } : {});
        expect([400, 404], `${r.method} ${r.path} ${raw}: ${reply.status}`).toContain(reply.status);
      }
    }
  });

  it('answers a wrong type in each body field with a 400', async () => {
    let tried = 0;
    for (const r of bodyRoutes()) {
      const shape = r.body instanceof z.ZodObject ? (r.body.shape as Record<string, z.ZodType>) : undefined;
      if (!shape) continue;
      for (const [field, type] of Object.entries(shape)) {
        for (const wrong of wrongValuesFor(type)) {
          const reply = await call(r, callerFor(r), fill(r.path, values), { [field]: wrong });
          expect([400, 403, 404], `${r.method} ${r.path} ${field}=${JSON.stringify(wrong)}: ${reply.status}`).toContain(reply.status);
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(30);
  });

  it('refuses bodies over 2 MiB with 413', async () => {
    const huge = JSON.stringify({ text: 'x'.repeat(MAX_BODY) });
    for (const r of bodyRoutes()) {
      const reply = await call(r, callerFor(r), fill(r.path, values), huge);
      expect(reply.status, `${r.method} ${r.path}`).toBe(413);
    }
  });

  it('refuses every authenticated route without a token, with a token it does not know, and SCIM with a Matrix token', async () => {
    for (const r of routes) {
      const where = fill(r.path, values);
      const body = r.method === 'GET' ? undefined : {};
      if (r.auth === 'user') {
        expect((await call(r, anon, where, body)).status, where).toBe(401);
        for (const token of ['tct_nope', `${mallory.token}x`, `'OR'1'='1;--`, 'x'.repeat(4000)]) {
          expect((await call(r, anon.as(token), where, body)).status, where).toBe(401);
        }
      }
      if (isScim(r.path)) {
        expect((await call(r, anon, where, body)).status, where).toBe(401);
        expect((await call(r, callerFor(r, 'mallory'), where, body)).status, where).toBe(401);
      }
    }
  });

  it('keeps the administrative routes from a user without the role', async () => {
    for (const r of routes.filter((x) => x.path.startsWith('/_tocsin/v1/admin/'))) {
      const reply = await call(r, mallory.api, fill(r.path, values), r.method === 'GET' ? undefined : {});
      // A body the route's schema refuses is a 400 before any role check: it reveals nothing.
      expect([400, 403, 404], `${r.method} ${r.path}: ${reply.status}`).toContain(reply.status);
      if (reply.status === 400) expect(reply.body.errcode).toBe('M_BAD_JSON');
    }
  });

  it('survives hostile values in every path parameter', async () => {
    let tried = 0;
    for (const r of routes) {
      for (const name of paramsOf(r.path)) {
        for (const hostile of HOSTILE_STRINGS) {
          const where = fill(r.path, { ...values, [name]: hostile });
          await call(r, callerFor(r), where, r.method === 'GET' ? undefined : {});
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(100);
  }, 180_000);

  it('survives hostile values in every string field of a body', async () => {
    let tried = 0;
    for (const r of bodyRoutes()) {
      const shape = r.body instanceof z.ZodObject ? (r.body.shape as Record<string, z.ZodType>) : undefined;
      if (!shape) continue;
      for (const [field, type] of Object.entries(shape)) {
        const inner = unwrap(type);
        if (!(inner instanceof z.ZodString)) continue;
        for (const hostile of HOSTILE_STRINGS) {
          await call(r, callerFor(r), fill(r.path, values), { [field]: hostile });
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(20);
  }, 180_000);

  it('survives hostile query parameters on every GET', async () => {
    let tried = 0;
    const names = ['since', 'timeout', 'limit', 'from', 'to', 'filter', 'startIndex', 'count', 'q', 'state', 'answer', 'format'];
    for (const r of routes.filter((x) => x.method === 'GET')) {
      const where = fill(r.path, values);
      for (const name of names) {
        for (const hostile of [...HOSTILE_STRINGS, 'NaN', 'Infinity', '1e999', '-99999999999', 'userName eq "x" or 1 eq 1', 'userName eq']) {
          // A long-poll with a valid short timeout would wait; give it 0.
          const extra = name === 'timeout' ? '' : '&timeout=0';
          await call(r, callerFor(r), `${where}?${name}=${encAny(hostile)}${extra}`);
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(500);
  }, 240_000);

  it('is still up, with its data intact, after all of the above', async () => {
    const status = await admin.api.get(`/_tocsin/v1/alerts/${enc(alertId)}`);
    expect(status.status).toBe(200);
    const feed = await mallory.api.get('/_tocsin/v1/feed?timeout=0');
    expect(feed.status).toBe(200);
    expect((await anon.get('/health')).body).toEqual({ status: 'ok' });
  });
});
