import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A push gateway on 127.0.0.1 following the Push Gateway API (/_matrix/push/v1/notify): it
// checks the request shape a real gateway (Sygnal) relies on, records each notification, and
// answers `rejected` for the pushkeys a test marks as dead, or a 500 when told to fail.

export interface GatewayNotification {
  event_id?: string;
  room_id?: string;
  type?: string;
  sender?: string;
  sender_display_name?: string;
  room_name?: string;
  user_is_target?: boolean;
  prio?: string;
  content?: Record<string, unknown>;
  counts?: { unread?: number; missed_calls?: number };
  devices: Array<{ app_id: string; pushkey: string; pushkey_ts?: number; data?: Record<string, unknown>; tweaks?: Record<string, unknown> }>;
}

export class PushGateway {
  readonly received: GatewayNotification[] = [];
  /** Requests that broke the API (a test expects this to stay empty). */
  readonly malformed: string[] = [];
  readonly deadKeys = new Set<string>();
  failNext = 0;
  requests = 0;
  readonly #server: Server;

  private constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        const answer = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        };
        if (req.method !== 'POST' || req.url !== '/_matrix/push/v1/notify') return answer(404, { errcode: 'M_UNRECOGNIZED', error: 'no' });
        if (this.failNext > 0) {
          this.failNext--;
          return answer(500, { error: 'try later' });
        }
        let body: { notification?: GatewayNotification };
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          this.malformed.push('not JSON');
          return answer(400, { error: 'not JSON' });
        }
        const n = body.notification;
        if (!n || !Array.isArray(n.devices) || n.devices.length === 0 || n.devices.some((d) => typeof d.app_id !== 'string' || typeof d.pushkey !== 'string')) {
          this.malformed.push(JSON.stringify(body));
          return answer(400, { error: 'bad notification' });
        }
        if (n.devices.some((d) => d.data && 'url' in d.data)) this.malformed.push('the pusher url was forwarded');
        this.received.push(n);
        answer(200, { rejected: n.devices.map((d) => d.pushkey).filter((k) => this.deadKeys.has(k)) });
      });
    });
  }

  static async start(): Promise<PushGateway> {
    const g = new PushGateway();
    await new Promise<void>((resolve) => g.#server.listen(0, '127.0.0.1', resolve));
    return g;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/_matrix/push/v1/notify`;
  }

  forEvent(eventId: string): GatewayNotification[] {
    return this.received.filter((n) => n.event_id === eventId);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
