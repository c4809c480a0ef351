import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify, type ECDH } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A push service on 127.0.0.1 with fake browsers behind it. Each browser holds a P-256 key
// pair and a 16-byte auth secret, as a real one does, and hands out its PushSubscription JSON.
// For every message the service checks what a real push service checks (the VAPID JWT: ES256
// signature with the k key, aud = this origin, exp within 24 h, a sub; a TTL header) and the
// browser decrypts the RFC 8291 aes128gcm body with its own keys, written here from the RFCs
// with node:crypto so that the test checks the wire format rather than trusting a library.

export interface PushSubscriptionJson {
  endpoint: string;
  expirationTime: null;
  keys: { p256dh: string; auth: string };
}

export interface FakeBrowser {
  id: string;
  subscription: PushSubscriptionJson;
  ecdh: ECDH;
  authSecret: Buffer;
  /** The applicationServerKey it subscribed with; other VAPID keys get 403, as from FCM. */
  applicationServerKey: string | undefined;
}

export interface ReceivedPush {
  browserId: string;
  ttl: string | undefined;
  urgency: string | undefined;
  topic: string | undefined;
  jwt: { header: Record<string, unknown>; claims: { aud?: string; exp?: number; sub?: string }; raw: string };
  vapidKey: string;
  /** Size of the encrypted body on the wire. */
  bodyBytes: number;
  /** The decrypted payload. */
  payload: string;
}

interface Answer {
  status: number;
  retryAfter?: string;
}

export class WebPushReceiver {
  readonly received: ReceivedPush[] = [];
  /** Requests refused by the checks, with the reason (a test expects this to stay empty). */
  readonly refused: { browserId: string; status: number; reason: string }[] = [];
  connections = 0;
  readonly #server: Server;
  readonly #browsers = new Map<string, FakeBrowser>();
  readonly #answers = new Map<string, Answer[]>();
  readonly #gone = new Set<string>();
  #nextId = 1;

  private constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      // A sender killed mid-request resets the socket: the request emits ECONNRESET, which
      // would otherwise be an unhandled error in the test process.
      req.on('error', () => req.destroy());
      res.on('error', () => res.destroy());
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const { status, headers } = this.#handle(req.url ?? '', req.method ?? '', req.headers, Buffer.concat(chunks));
        res.writeHead(status, headers).end();
      });
    });
    this.#server.on('connection', () => {
      this.connections += 1;
    });
  }

  static async start(): Promise<WebPushReceiver> {
    const receiver = new WebPushReceiver();
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  newBrowser(options: { applicationServerKey?: string; host?: string } = {}): FakeBrowser {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const authSecret = randomBytes(16);
    const id = `b${this.#nextId++}${randomBytes(8).toString('hex')}`;
    const origin = options.host ? this.origin.replace('127.0.0.1', options.host) : this.origin;
    const browser: FakeBrowser = {
      id,
      ecdh,
      authSecret,
      applicationServerKey: options.applicationServerKey,
      subscription: {
        endpoint: `${origin}/push/${id}`,
        expirationTime: null,
        keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') },
      },
    };
    this.#browsers.set(id, browser);
    return browser;
  }

  /** The next `times` messages to this browser get this status (429 with Retry-After, 500...). */
  answer(browser: FakeBrowser, status: number, options: { retryAfter?: string; times?: number } = {}): void {
    const list = this.#answers.get(browser.id) ?? [];
    for (let i = 0; i < (options.times ?? 1); i++) list.push({ status, ...(options.retryAfter ? { retryAfter: options.retryAfter } : {}) });
    this.#answers.set(browser.id, list);
  }

  /** The browser unsubscribed: its endpoint answers 410 Gone from now on. */
  unsubscribe(browser: FakeBrowser): void {
    this.#gone.add(browser.id);
  }

  receivedBy(browser: FakeBrowser): ReceivedPush[] {
    return this.received.filter((r) => r.browserId === browser.id);
  }

  refusedFor(browsers: FakeBrowser[]): WebPushReceiver['refused'] {
    const ids = new Set(browsers.map((b) => b.id));
    return this.refused.filter((r) => ids.has(r.browserId));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(url: string, method: string, headers: IncomingHttpHeaders, body: Buffer): { status: number; headers: Record<string, string> } {
    const id = /^\/push\/([A-Za-z0-9]+)$/.exec(url)?.[1];
    const browser = id ? this.#browsers.get(id) : undefined;
    if (method !== 'POST' || !browser) return { status: 404, headers: {} };
    const refuse = (status: number, reason: string) => {
      this.refused.push({ browserId: browser.id, status, reason });
      return { status, headers: {} };
    };
    if (this.#gone.has(browser.id)) return { status: 410, headers: {} };
    const answer = this.#answers.get(browser.id)?.shift();
    if (answer) return { status: answer.status, headers: answer.retryAfter ? { 'retry-after': answer.retryAfter } : {} };

    if (headers.ttl === undefined || !/^\d+$/.test(String(headers.ttl))) return refuse(400, 'missing TTL');
    let vapid: ReturnType<typeof verifyVapid>;
    try {
      // The audience is this service's origin as the client addressed it (127.0.0.1 or localhost).
      vapid = verifyVapid(String(headers.authorization ?? ''), `http://${headers.host ?? ''}`);
    } catch (err) {
      return refuse(401, (err as Error).message);
    }
    if (browser.applicationServerKey && vapid.key !== browser.applicationServerKey) return refuse(403, 'VAPID key differs from the subscription key');
    if (headers['content-encoding'] !== 'aes128gcm') return refuse(400, 'not aes128gcm');
    let payload: string;
    try {
      payload = decryptAes128gcm(body, browser.ecdh, browser.authSecret).toString('utf8');
    } catch (err) {
      return refuse(400, `cannot decrypt: ${(err as Error).message}`);
    }
    this.received.push({
      browserId: browser.id,
      ttl: headers.ttl as string,
      urgency: headers.urgency as string | undefined,
      topic: headers.topic as string | undefined,
      jwt: vapid.jwt,
      vapidKey: vapid.key,
      bodyBytes: body.length,
      payload,
    });
    return { status: 201, headers: { location: `${this.origin}/message/${this.received.length}` } };
  }
}

/** RFC 8292: `Authorization: vapid t=<JWT>, k=<base64url P-256 public key>`. */
export function verifyVapid(authorization: string, origin: string): { jwt: ReceivedPush['jwt']; key: string } {
  const scheme = /^vapid\s+(.*)$/i.exec(authorization.trim());
  if (!scheme) throw new Error('not a vapid authorization');
  const params = new Map(scheme[1]!.split(',').map((p) => {
    const [k, ...v] = p.trim().split('=');
    return [k!.trim(), v.join('=').trim()] as const;
  }));
  const token = params.get('t');
  const key = params.get('k');
  if (!token || !key) throw new Error('vapid t= or k= missing');
  const [h, p, s] = token.split('.');
  if (!h || !p || !s) throw new Error('malformed JWT');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as ReceivedPush['jwt']['claims'];
  if (header.alg !== 'ES256') throw new Error(`JWT alg ${String(header.alg)}`);
  const point = Buffer.from(key, 'base64url');
  if (point.length !== 65 || point[0] !== 4) throw new Error('k is not an uncompressed P-256 point');
  const publicKey = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    format: 'jwk',
  });
  // JWS ES256 signatures are r || s (64 bytes), not DER.
  if (!verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))) {
    throw new Error('bad JWT signature');
  }
  const now = Date.now() / 1000;
  if (claims.aud !== origin) throw new Error(`JWT aud ${claims.aud} is not ${origin}`);
  if (typeof claims.exp !== 'number' || claims.exp <= now || claims.exp > now + 24 * 3600) throw new Error('JWT exp out of range');
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) throw new Error('JWT sub missing');
  return { jwt: { header, claims, raw: token }, key };
}

/**
 * RFC 8291 section 3.4 key derivation, then RFC 8188 decryption:
 *   header = salt(16) | rs(4) | idlen(1) | keyid = the sender's ephemeral public key (65)
 *   IKM   = HKDF(auth_secret, ECDH(ua_private, as_public), "WebPush: info" 0 ua_public as_public, 32)
 *   CEK   = HKDF(salt, IKM, "Content-Encoding: aes128gcm" 0, 16)
 *   NONCE = HKDF(salt, IKM, "Content-Encoding: nonce" 0, 12), XORed with the record number
 * Each record ends with a 16-byte tag; its plaintext ends with 0x02 (last) or 0x01, then zeros.
 */
export function decryptAes128gcm(body: Buffer, ecdh: ECDH, authSecret: Buffer): Buffer {
  if (body.length < 21) throw new Error('body shorter than the header');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  const senderKey = body.subarray(21, 21 + idlen);
  if (idlen !== 65 || rs < 18) throw new Error('bad aes128gcm header');
  const receiverKey = ecdh.getPublicKey();
  const shared = ecdh.computeSecret(senderKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), receiverKey, senderKey]);
  const ikm = Buffer.from(hkdfSync('sha256', shared, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const baseNonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));

  const records = body.subarray(21 + idlen);
  const out: Buffer[] = [];
  for (let offset = 0, seq = 0; offset < records.length; offset += rs, seq++) {
    const record = records.subarray(offset, Math.min(offset + rs, records.length));
    const nonce = Buffer.from(baseNonce);
    // The record number, big-endian, XORed into the low bytes (4 are plenty for a test).
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ seq) >>> 0, 8);
    const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
    decipher.setAuthTag(record.subarray(record.length - 16));
    const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end--;
    const last = offset + rs >= records.length;
    if (end < 0 || plain[end] !== (last ? 2 : 1)) throw new Error('bad padding delimiter');
    out.push(plain.subarray(0, end));
  }
  return Buffer.concat(out);
}
