// The media repository: uploads (plain and reserved), authenticated downloads with safe
// headers, real thumbnails of real images, quarantine, URL previews through the outbound
// guard, and what hostile clients send (oversized and truncated bodies, path tricks, lying
// content types, other servers' media, no token).
import { readdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { createClient } from 'matrix-js-sdk';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mediaRoutes } from '../../../src/matrix/media/routes.ts';
import { enc, registerAdmin, type Reply, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, checkReply, expectError, ok, registerSpecUser, type SpecUser } from '../../support/spec-client.ts';

const LIMIT = 1024 * 1024;
const MEDIA = '/_matrix/client/v1/media';

interface RawReply extends Reply {
  bytes: Buffer;
}

describe('media repository', () => {
  let server: TestServer;
  const log = new CallLog();
  let anon: SpecApi;
  let alice: SpecUser;
  let bob: SpecUser;
  let admin: TestUser;
  let site: Server;
  let siteUrl: string;

  beforeAll(async () => {
    // A web site on loopback for URL previews; the config lets previews reach 127.0.0.0/8 only.
    site = createServer((req, res) => {
      const url = req.url ?? '/';
      if (url === '/page') {
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(`<!doctype html><html><head><title>ignored</title>
          <meta property="og:title" content="Exercice &amp; crue">
          <meta property="og:description" content="La Seine monte">
          <meta property="og:image" content="/logo.png"></head><body>x</body></html>`);
      } else if (url === '/plain') {
        res.setHeader('content-type', 'text/html');
        res.end('<html><head><title> Cellule de crise </title><meta name="description" content="Point de situation"></head></html>');
      } else if (url === '/logo.png') {
        void sharp({ create: { width: 64, height: 48, channels: 3, background: '#0a0' } }).png().toBuffer().then((png) => {
          res.setHeader('content-type', 'image/png');
          res.end(png);
        });
      } else if (url === '/to-private') {
        res.statusCode = 302;
        res.setHeader('location', 'http://10.20.30.40/secret');
        res.end();
      } else if (url === '/huge') {
        res.setHeader('content-type', 'text/html');
        res.end(`<html>${'x'.repeat(3 * 1024 * 1024)}</html>`);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}`;

    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-media-'));
    const config = path.join(dir, 'tocsin.yaml');
    writeFileSync(config, `media:\n  max_upload_bytes: ${LIMIT}\noutbound_allow_ranges: ["127.0.0.0/8"]\n`);
    server = await startTestServer({ TOCSIN_CONFIG: config });
    anon = new SpecApi(server.url, undefined, log);
    alice = await registerSpecUser(server.url, log);
    bob = await registerSpecUser(server.url, log);
    admin = await registerAdmin(server.url, `admin${process.pid}`);
  });

  afterAll(async () => {
    // The frozen unauthenticated downloads never answer 2xx.
    log.expectRoutesCovered(mediaRoutes(server.services).filter((r) => !/^\/_matrix\/media\/v3\/(download|thumbnail)\//.test(r.path)));
    await closeAllTestServers();
    await new Promise((resolve) => site.close(resolve));
  });

  /** A request with a raw body; JSON answers are checked against the spec like SpecApi does. */
  async function raw(method: string, pathAndQuery: string, opts: { token?: string; body?: Buffer | string; headers?: Record<string, string>; offSpec?: boolean } = {}): Promise<RawReply> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const res = await fetch(`${server.url}${pathAndQuery}`, { method, headers, body: opts.body as BodyInit | undefined });
    const bytes = Buffer.from(await res.arrayBuffer());
    const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
    const reply: RawReply = { status: res.status, headers: res.headers, body: json ? JSON.parse(bytes.toString('utf8')) : undefined, bytes };
    log.record({ method, path: pathAndQuery.split('?')[0]!, status: res.status });
    if (json || res.status >= 300) checkReply(method, pathAndQuery, reply, opts.offSpec ?? false);
    return reply;
  }

  async function upload(user: { token: string }, body: Buffer | string, type?: string, filename?: string): Promise<string> {
    const q = filename ? `?filename=${enc(filename)}` : '';
    const reply = await raw('POST', `/_matrix/media/v3/upload${q}`, { token: user.token, body, headers: type ? { 'content-type': type } : {} });
    return ok(reply).content_uri as string;
  }

  const idOf = (mxc: string) => mxc.slice('mxc://localhost/'.length);
  const download = (mxc: string, token: string | undefined, extra = '') => raw('GET', `${MEDIA}/download/${mxc.slice(6)}${extra}`, { token });

  it('serves its config, with the configured upload limit', async () => {
    expect(ok(await alice.api.get(`${MEDIA}/config`))).toEqual({ 'm.upload.size': LIMIT });
    expect(ok(await alice.api.get('/_matrix/media/v3/config'))).toEqual({ 'm.upload.size': LIMIT });
    expectError(await anon.get(`${MEDIA}/config`), 401, 'M_MISSING_TOKEN');
  });

  it('uploads and downloads with the file name and safe headers', async () => {
    const text = 'Point de situation 14h : RAS ✅\n';
    const mxc = await upload(alice, text, 'text/plain; charset=utf-8', 'point situation é.txt');
    expect(mxc).toMatch(/^mxc:\/\/localhost\/[A-Za-z0-9_-]{24}$/);
    const got = await download(mxc, bob.token);
    expect(got.status).toBe(200);
    expect(got.bytes.toString('utf8')).toBe(text);
    expect(got.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(got.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(got.headers.get('content-disposition')).toBe(`inline; filename="point situation ?.txt"; filename*=UTF-8''point%20situation%20%C3%A9.txt`);
    expect(got.headers.get('content-security-policy')).toMatch(/^sandbox; default-src 'none'; script-src 'none';/);
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(got.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(got.headers.get('content-encoding')).toBeNull();
    // The file name in the path replaces the uploaded one.
    const renamed = await download(mxc, bob.token, '/rapport.txt');
    expect(renamed.headers.get('content-disposition')).toBe('inline; filename=rapport.txt');
    expect(renamed.bytes.toString('utf8')).toBe(text);
    // A byte range, for video players.
    const part = await raw('GET', `${MEDIA}/download/${mxc.slice(6)}`, { token: bob.token, headers: { range: 'bytes=0-4' } });
    expect(part.status).toBe(206);
    expect(part.bytes.toString('utf8')).toBe('Point');
    expect(part.headers.get('content-range')).toBe(`bytes 0-4/${Buffer.byteLength(text)}`);
  });

  it('serves unsafe types as attachments and distrusts image types the bytes contradict', async () => {
    const html = '<html><script>alert(document.cookie)</script></html>';
    const page = await download(await upload(alice, html, 'text/html', 'x.html'), bob.token);
    expect(page.headers.get('content-type')).toBe('text/html');
    expect(page.headers.get('content-disposition')).toBe('attachment; filename=x.html');
    expect(page.headers.get('content-security-policy')).toContain('sandbox');

    const fake = await download(await upload(alice, html, 'image/png'), bob.token);
    expect(fake.headers.get('content-type')).toBe('application/octet-stream');
    expect(fake.headers.get('content-disposition')).toBe('attachment');

    const untyped = await download(await upload(alice, Buffer.from([1, 2, 3])), bob.token);
    expect(untyped.headers.get('content-type')).toBe('application/octet-stream');
    expect(untyped.bytes).toEqual(Buffer.from([1, 2, 3]));

    expectError(await raw('POST', '/_matrix/media/v3/upload', { token: alice.token, body: 'x', headers: { 'content-type': 'not a type' } }), 400, 'M_INVALID_PARAM');
  });

  it('stores identical content once', async () => {
    const body = `same bytes ${Math.random()}`;
    const a = await upload(alice, body, 'text/plain');
    const b = await upload(bob, body, 'text/plain');
    expect(a).not.toBe(b);
    const rows = await server.services.db('media').whereIn('media_id', [idOf(a), idOf(b)]).select('sha256');
    expect(rows[0].sha256).toBe(rows[1].sha256);
  });

  it('wants a token on the authenticated endpoints, and the frozen legacy ones serve nothing', async () => {
    const mxc = await upload(alice, 'secret minutes', 'text/plain');
    const id = mxc.slice(6);
    expectError(await raw('GET', `${MEDIA}/download/${id}`), 401, 'M_MISSING_TOKEN');
    expectError(await raw('GET', `${MEDIA}/thumbnail/${id}?width=32&height=32`), 401, 'M_MISSING_TOKEN');
    expectError(await raw('GET', `${MEDIA}/download/${id}`, { token: 'tct_forged' }), 401, 'M_UNKNOWN_TOKEN');
    expectError(await raw('POST', '/_matrix/media/v3/upload', { body: 'x' }), 401, 'M_MISSING_TOKEN');
    for (const token of [undefined, bob.token]) {
      expectError(await raw('GET', `/_matrix/media/v3/download/${id}`, { token }), 404, 'M_NOT_FOUND');
      expectError(await raw('GET', `/_matrix/media/v3/download/${id}/x.txt`, { token }), 404, 'M_NOT_FOUND');
      expectError(await raw('GET', `/_matrix/media/v3/thumbnail/${id}?width=32&height=32`, { token }), 404, 'M_NOT_FOUND');
    }
  });

  it('answers 404 for other servers, unknown ids and path tricks', async () => {
    const mxc = await upload(alice, 'hello', 'text/plain');
    const id = idOf(mxc);
    expectError(await raw('GET', `${MEDIA}/download/matrix.org/${id}`, { token: bob.token }), 404, 'M_NOT_FOUND');
    expectError(await raw('GET', `${MEDIA}/download/localhost:8448/${id}`, { token: bob.token }), 404, 'M_NOT_FOUND');
    for (const bad of ['%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%2Fdb', '%2e%2e', 'a.b', `${id}%00`, 'a%2Fb', 'x'.repeat(300), '%C0%AE%C0%AE']) {
      const res = await raw('GET', `${MEDIA}/download/localhost/${bad}`, { token: bob.token, offSpec: true });
      expect([400, 404], `${bad}: ${res.status}`).toContain(res.status);
    }
    // (An encoded dot segment alone, `%2e%2e`, is resolved by fetch itself before sending.)
    for (const bad of ['..%2F..%2Fetc%2Fpasswd', '..%5C..%5Cboot.ini', 'a%5Cb', 'x%0Ay', '%2e%2e%2fx']) {
      expectError(await raw('GET', `${MEDIA}/download/localhost/${id}/${bad}`, { token: bob.token, offSpec: true }), 400, 'M_INVALID_PARAM');
    }
    for (const bad of ['../../etc/passwd', 'a/b', 'a\\b', 'x\ny', '']) {
      expectError(await raw('POST', `/_matrix/media/v3/upload?filename=${enc(bad)}`, { token: alice.token, body: 'x' }), 400, 'M_INVALID_PARAM');
    }
  });

  it('refuses uploads over the limit with 413 M_TOO_LARGE, declared or streamed, and keeps nothing', async () => {
    const over = Buffer.alloc(LIMIT + 1, 7);
    expectError(await raw('POST', '/_matrix/media/v3/upload', { token: alice.token, body: over }), 413, 'M_TOO_LARGE');
    // Exactly at the limit is fine.
    const at = await upload(alice, Buffer.alloc(LIMIT, 8), 'application/octet-stream');
    expect((await download(at, bob.token)).bytes.length).toBe(LIMIT);

    // Chunked, without a length: refused once the limit is crossed, before the client is done.
    const streamed = await chunkedUpload(alice.token, 64 * 1024, 400);
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).errcode).toBe('M_TOO_LARGE');
    expect(streamed.sent).toBeLessThan(400 * 64 * 1024);
    expect(readdirSync(path.join(server.config.dataDir, 'media', 'tmp'))).toEqual([]);
    ok(await alice.api.get(`${MEDIA}/config`));
  });

  it('drops an upload whose body is shorter than its Content-Length', async () => {
    const before = Number((await server.services.db('media').count({ n: '*' }).first())!.n);
    // A client that half-closes (the server sees the end of the body early), and one that dies.
    for (const hangUp of ['end', 'destroy'] as const) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => {
          socket.write(`POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice.token}\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nonly ten b`);
          setImmediate(() => (hangUp === 'end' ? socket.end() : socket.destroy()));
        });
        socket.on('error', reject);
        socket.resume(); // whatever the server answers, read until it closes
        socket.on('close', () => resolve());
      });
    }
    // The server notices the close, removes the partial file and records nothing.
    const tmp = path.join(server.config.dataDir, 'media', 'tmp');
    for (let i = 0; i < 100 && readdirSync(tmp).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(readdirSync(tmp)).toEqual([]);
    expect(Number((await server.services.db('media').count({ n: '*' }).first())!.n)).toBe(before);
    ok(await alice.api.get(`${MEDIA}/config`));
  });

  it('reserves a URI, waits for its bytes, and lets only its creator fill it once', async () => {
    const created = ok(await alice.api.post('/_matrix/media/v1/create', {}));
    expect(created.unused_expires_at).toBeGreaterThan(Date.now());
    const id = created.content_uri.slice(6);
    // Nothing yet: 504 M_NOT_YET_UPLOADED at once with timeout_ms=0.
    const early = await fetch(`${server.url}${MEDIA}/download/${id}?timeout_ms=0`, { headers: { authorization: `Bearer ${bob.token}` } });
    expect(early.status).toBe(504);
    expect((await early.json()).errcode).toBe('M_NOT_YET_UPLOADED');

    // A download waiting on the URI gets the bytes once they arrive.
    const waiting = download(created.content_uri, bob.token, '?timeout_ms=20000');
    expectError(await raw('PUT', `/_matrix/media/v3/upload/${id}`, { token: bob.token, body: 'intrus' }), 403, 'M_FORBIDDEN');
    ok(await raw('PUT', `/_matrix/media/v3/upload/${id}?filename=carte.txt`, { token: alice.token, body: 'carte', headers: { 'content-type': 'text/plain' } }));
    const got = await waiting;
    expect(got.bytes.toString()).toBe('carte');
    expect(got.headers.get('content-disposition')).toBe('inline; filename=carte.txt');

    expectError(await raw('PUT', `/_matrix/media/v3/upload/${id}`, { token: alice.token, body: 'again' }), 409, 'M_CANNOT_OVERWRITE_MEDIA');
    expectError(await raw('PUT', '/_matrix/media/v3/upload/localhost/neverCreated', { token: alice.token, body: 'x' }), 404, 'M_NOT_FOUND');
    expectError(await raw('PUT', `/_matrix/media/v3/upload/elsewhere.org/${idOf(created.content_uri)}`, { token: alice.token, body: 'x' }), 404, 'M_NOT_FOUND');
    // Filled uploads (also the earlier ones) do not count as pending.
    let refused: Reply | undefined;
    for (let i = 0; i < 12 && !refused; i++) {
      const r = await bob.api.post('/_matrix/media/v1/create', {});
      if (r.status !== 200) refused = r;
    }
    expectError(refused!, 429, 'M_LIMIT_EXCEEDED');
  });

  it('makes real thumbnails: crop and scale, never enlarged, cached', async () => {
    const jpeg = await sharp({ create: { width: 1200, height: 800, channels: 3, background: '#c03' } }).jpeg().toBuffer();
    const png = await sharp({ create: { width: 300, height: 200, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 0.5 } } }).png().toBuffer();
    const webp = await sharp({ create: { width: 1000, height: 1000, channels: 3, background: '#333' } }).webp().toBuffer();
    const [j, p, w] = [await upload(alice, jpeg, 'image/jpeg', 'photo.jpg'), await upload(alice, png, 'image/png'), await upload(alice, webp, 'image/webp')];

    const thumb = async (mxc: string, q: string) => {
      const r = await raw('GET', `${MEDIA}/thumbnail/${mxc.slice(6)}?${q}`, { token: bob.token });
      expect(r.status, r.bytes.toString().slice(0, 200)).toBe(200);
      const meta = await sharp(r.bytes).metadata();
      return { r, meta };
    };
    let t = await thumb(j, 'width=96&height=96&method=crop');
    expect([t.meta.format, t.meta.width, t.meta.height]).toEqual(['jpeg', 96, 96]);
    expect(t.r.headers.get('content-type')).toBe('image/jpeg');
    expect(t.r.headers.get('content-disposition')).toBe('inline; filename=thumbnail.jpeg');
    expect(t.r.headers.get('content-security-policy')).toContain('sandbox');
    // Scale fits inside the box (300x200 snaps up to the standard 320x240), keeping the aspect ratio.
    t = await thumb(j, 'width=300&height=200&method=scale');
    expect([t.meta.width, t.meta.height]).toEqual([320, 213]);
    t = await thumb(j, 'width=32&height=32&method=crop');
    expect([t.meta.width, t.meta.height]).toEqual([32, 32]);
    // Never larger than the original.
    t = await thumb(p, 'width=800&height=600&method=scale');
    expect([t.meta.format, t.meta.width, t.meta.height, t.meta.hasAlpha]).toEqual(['png', 300, 200, true]);
    t = await thumb(p, 'width=400&height=400&method=crop');
    expect([t.meta.width, t.meta.height]).toEqual([300, 200]);
    t = await thumb(w, 'width=640&height=480');
    expect([t.meta.format, t.meta.width, t.meta.height]).toEqual(['webp', 480, 480]);

    // Cached: the same bytes again, one row per size.
    const again = await thumb(j, 'width=96&height=96&method=crop');
    const first = await thumb(j, 'width=90&height=90&method=crop');
    expect(again.r.bytes).toEqual(first.r.bytes);
    const rows = await server.services.db('media_thumbnails').where({ media_id: idOf(j) }).select('width', 'height', 'method');
    expect(rows).toHaveLength(3);
  });

  it('refuses to thumbnail what it cannot or should not', async () => {
    const text = await upload(alice, 'not an image', 'text/plain');
    expectError(await raw('GET', `${MEDIA}/thumbnail/${text.slice(6)}?width=32&height=32`, { token: bob.token }), 400, 'M_UNKNOWN');
    // Bytes that claim to be PNG and are not (stored as octet-stream: nothing to thumbnail).
    const liar = await upload(alice, '<html></html>', 'image/png');
    expectError(await raw('GET', `${MEDIA}/thumbnail/${liar.slice(6)}?width=32&height=32`, { token: bob.token }), 400, 'M_UNKNOWN');
    // A PNG with a real signature and a broken body.
    const broken = await upload(alice, Buffer.concat([pngChunks(64, 64).subarray(0, 40), Buffer.from('garbage')]), 'image/png');
    expectError(await raw('GET', `${MEDIA}/thumbnail/${broken.slice(6)}?width=32&height=32`, { token: bob.token }), 400, 'M_UNKNOWN');
    // A decompression bomb: a tiny file claiming 50,000 x 50,000 pixels is not decoded.
    const bomb = await upload(alice, pngChunks(50_000, 50_000), 'image/png');
    expectError(await raw('GET', `${MEDIA}/thumbnail/${bomb.slice(6)}?width=32&height=32`, { token: bob.token }), 413, 'M_TOO_LARGE');

    const png = await upload(alice, await sharp({ create: { width: 10, height: 10, channels: 3, background: '#fff' } }).png().toBuffer(), 'image/png');
    for (const q of ['width=0&height=32', 'width=-1&height=32', 'width=a&height=32', 'height=32', 'width=32&height=32&method=zoom', 'width=1e3&height=3']) {
      const res = await raw('GET', `${MEDIA}/thumbnail/${png.slice(6)}?${q}`, { token: bob.token });
      expect(res.status, q).toBe(400);
    }
    expectError(await raw('GET', `${MEDIA}/thumbnail/other.org/${idOf(png)}?width=32&height=32`, { token: bob.token }), 404, 'M_NOT_FOUND');
  });

  it('lets server admins quarantine media, following its content', async () => {
    const body = `tract ${Math.random()}`;
    const a = await upload(alice, body, 'text/plain');
    const b = await upload(bob, body, 'text/plain');
    const adminApi = new SpecApi(server.url, admin.token, log);
    const at = `/_tocsin/v1/admin/media/${a.slice(6)}`;
    expectError(await alice.api.call('POST', `${at}/quarantine`, { offSpec: true }), 403, 'M_FORBIDDEN');
    expectError(await alice.api.call('GET', at, { offSpec: true }), 403, 'M_FORBIDDEN');
    const done = ok(await adminApi.call('POST', `${at}/quarantine`, { offSpec: true }));
    expect(done.quarantined.sort()).toEqual([a, b].sort());
    expectError(await download(a, bob.token), 404, 'M_NOT_FOUND');
    expectError(await download(b, alice.token), 404, 'M_NOT_FOUND');
    // The same bytes uploaded again are born quarantined.
    expectError(await download(await upload(bob, body, 'text/plain'), alice.token), 404, 'M_NOT_FOUND');
    const info = ok(await adminApi.call('GET', at, { offSpec: true }));
    expect(info).toMatchObject({ content_uri: a, user_id: alice.userId, quarantined: true, quarantined_by: admin.userId, size: body.length });
    expectError(await adminApi.call('POST', '/_tocsin/v1/admin/media/localhost/nothingHere/quarantine', { offSpec: true }), 404, 'M_NOT_FOUND');

    ok(await adminApi.call('DELETE', `${at}/quarantine`, { offSpec: true }));
    expect((await download(a, bob.token)).bytes.toString()).toBe(body);
  });

  it('previews URLs with OpenGraph data, its image stored as media', async () => {
    const preview = ok(await alice.api.get(`${MEDIA}/preview_url?url=${enc(`${siteUrl}/page`)}`));
    expect(preview).toMatchObject({ 'og:title': 'Exercice & crue', 'og:description': 'La Seine monte', 'og:image:type': 'image/png', 'og:image:width': 64, 'og:image:height': 48 });
    expect(preview['og:image']).toMatch(/^mxc:\/\/localhost\//);
    const image = await download(preview['og:image'], bob.token);
    expect(image.bytes.length).toBe(preview['matrix:image:size']);
    expect((await sharp(image.bytes).metadata()).width).toBe(64);

    expect(ok(await alice.api.get(`/_matrix/media/v3/preview_url?url=${enc(`${siteUrl}/plain`)}`))).toEqual({ 'og:title': 'Cellule de crise', 'og:description': 'Point de situation' });
    expect(ok(await alice.api.get(`${MEDIA}/preview_url?url=${enc(`${siteUrl}/logo.png`)}`))['og:image:width']).toBe(64);
  });

  it('refuses previews of private addresses, redirects to them, and oversized pages', async () => {
    for (const url of ['http://10.1.2.3/', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]:1/', 'http://192.168.1.1/admin', `${siteUrl}/to-private`]) {
      expectError(await alice.api.call('GET', `${MEDIA}/preview_url?url=${enc(url)}`, { offSpec: true }), 403, 'M_FORBIDDEN');
    }
    for (const url of ['file:///etc/passwd', 'ftp://x/', 'not a url', 'javascript:alert(1)']) {
      expectError(await alice.api.call('GET', `${MEDIA}/preview_url?url=${enc(url)}`, { offSpec: true }), 400, 'M_INVALID_PARAM');
    }
    expectError(await alice.api.call('GET', `${MEDIA}/preview_url`, { offSpec: true }), 400, 'M_MISSING_PARAM');
    const huge = await fetch(`${server.url}${MEDIA}/preview_url?url=${enc(`${siteUrl}/huge`)}`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(huge.status).toBe(502);
    expect((await huge.json()).errcode).toBe('M_UNKNOWN');
  });

  it('works with matrix-js-sdk: upload, then authenticated download of the mxc URI', async () => {
    const client = createClient({ baseUrl: server.url, accessToken: alice.token, userId: alice.userId });
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#08f' } }).png().toBuffer();
    const { content_uri } = await client.uploadContent(new Blob([png], { type: 'image/png' }), { name: 'carte.png', type: 'image/png' });
    const url = client.mxcUrlToHttp(content_uri, undefined, undefined, undefined, false, true, true)!;
    expect(url).toContain('/_matrix/client/v1/media/download/');
    const res = await fetch(url, { headers: { authorization: `Bearer ${bob.token}` } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(png);
    const thumbUrl = client.mxcUrlToHttp(content_uri, 32, 32, 'crop', false, true, true)!;
    const thumbRes = await fetch(thumbUrl, { headers: { authorization: `Bearer ${bob.token}` } });
    expect((await sharp(Buffer.from(await thumbRes.arrayBuffer())).metadata()).width).toBe(32);
  });

  it('serves the deprecated unauthenticated downloads only when the operator turns them on', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-media-legacy-'));
    const config = path.join(dir, 'tocsin.yaml');
    writeFileSync(config, 'media:\n  legacy_unauthenticated_downloads: true\n');
    const legacy = await startTestServer({ TOCSIN_CONFIG: config });
    const user = await registerSpecUser(legacy.url, new CallLog());
    const png = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#f80' } }).png().toBuffer();
    const res = await fetch(`${legacy.url}/_matrix/media/v3/upload`, { method: 'POST', headers: { authorization: `Bearer ${user.token}`, 'content-type': 'image/png' }, body: png as unknown as BodyInit });
    const id = ((await res.json()) as { content_uri: string }).content_uri.slice(6);
    const got = await fetch(`${legacy.url}/_matrix/media/v3/download/${id}`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-security-policy')).toContain('sandbox');
    expect(Buffer.from(await got.arrayBuffer())).toEqual(png);
    const thumb = await fetch(`${legacy.url}/_matrix/media/v3/thumbnail/${id}?width=32&height=32&method=crop`);
    expect((await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).width).toBe(32);
    // Quarantine still applies there.
    await legacy.services.media.quarantine('@admin:localhost', 'localhost', id.split('/')[1]!);
    expect((await fetch(`${legacy.url}/_matrix/media/v3/download/${id}`)).status).toBe(404);
  });

  /** A chunked upload (no Content-Length) of `count` chunks, stopped once the server answers. */
  function chunkedUpload(token: string, chunkSize: number, count: number): Promise<{ status: number; body: string; sent: number }> {
    return new Promise((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const req = httpRequest(`${server.url}/_matrix/media/v3/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } }, (res) => {
        answered = true;
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sent }));
      });
      req.on('error', (err) => (answered ? undefined : reject(err)));
      const chunk = Buffer.alloc(chunkSize, 1);
      const pump = () => {
        while (!answered && sent < count * chunkSize) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!answered) req.end();
      };
      pump();
    });
  }
});

/** A PNG made by hand: a real header claiming `width` x `height`, one tiny compressed row. */
function pngChunks(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1 + Math.min(width, 64)))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
