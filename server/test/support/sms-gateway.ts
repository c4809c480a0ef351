import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// An HTTP SMS gateway on 127.0.0.1 that records what the HTTP SMS channel posts and answers
// as told: 201 with an id by default, or a queued status (429 with Retry-After, 500, 400).

export interface GatewayRequest {
  method: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export class TestSmsGateway {
  readonly requests: GatewayRequest[] = [];
  readonly token: string;
  readonly #server: Server;
  #answers: Answer[] = [];
  #nextId = 1;

  private constructor(token: string) {
    this.token = token;
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      // A sender killed mid-request resets the socket; not an error of the test.
      req.on('error', () => req.destroy());
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: unknown = raw;
        try {
          body = raw ? JSON.parse(raw) : undefined;
        } catch {
          // kept as text
        }
        if (req.method === 'POST') this.requests.push({ method: req.method, headers: req.headers, body });
        if (req.headers.authorization !== `Bearer ${this.token}`) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad token"}');
          return;
        }
        if (req.method !== 'POST') {
          res.writeHead(405).end();
          return;
        }
        const answer = this.#answers.shift() ?? { status: 201, body: JSON.stringify({ id: `gw-${this.#nextId++}` }) };
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(answer.body ?? '');
      });
    });
  }

  static async start(token = 'gateway-token'): Promise<TestSmsGateway> {
    const gateway = new TestSmsGateway(token);
    await new Promise<void>((resolve) => gateway.#server.listen(0, '127.0.0.1', resolve));
    return gateway;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/send`;
  }

  /** The next request gets this answer instead of the default 201. */
  answerNext(status: number, options: { headers?: Record<string, string>; body?: string } = {}): void {
    this.#answers.push({ status, ...options });
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
