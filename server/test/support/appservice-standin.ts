import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A small application service on 127.0.0.1 following the Application Service API: every
// request must carry `Authorization: Bearer <hs_token>` (others are refused and recorded);
// transactions are recorded by id (a repeated id is a retry, as the spec says), user and
// room alias queries are answered by a handler the test gives (which may call the server).

export interface Transaction {
  txnId: string;
  events: Array<Record<string, any>>;
  ephemeral?: unknown[];
}

export class AppserviceStandIn {
  readonly transactions: Transaction[] = [];
  readonly refused: string[] = [];
  readonly pings: unknown[] = [];
  readonly userQueries: string[] = [];
  readonly aliasQueries: string[] = [];
  /** While > 0, transactions are answered 500 (the service is down). */
  failTransactions = 0;
  onUserQuery: (userId: string) => Promise<boolean> = async () => false;
  onAliasQuery: (alias: string) => Promise<boolean> = async () => false;
  readonly #hsToken: string;
  readonly #server: Server;

  private constructor(hsToken: string) {
    this.#hsToken = hsToken;
    this.#server = createServer((req, res) => {
      void this.#handle(req).then(
        ([status, body]) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        },
        () => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end('{}');
        },
      );
    });
  }

  async #handle(req: IncomingMessage): Promise<[number, unknown]> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.headers.authorization !== `Bearer ${this.#hsToken}`) {
      this.refused.push(`${req.method} ${url.pathname}`);
      return [403, { errcode: 'M_FORBIDDEN', error: 'bad hs_token' }];
    }
    const path = url.pathname;
    let m: RegExpExecArray | null;
    if (req.method === 'PUT' && (m = /^\/_matrix\/app\/v1\/transactions\/([^/]+)$/.exec(path))) {
      if (this.failTransactions > 0) {
        this.failTransactions--;
        return [500, { errcode: 'M_UNKNOWN', error: 'down' }];
      }
      const txnId = decodeURIComponent(m[1]!);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: Transaction['events']; ephemeral?: unknown[] };
      if (!this.transactions.some((t) => t.txnId === txnId)) this.transactions.push({ txnId, events: body.events, ephemeral: body.ephemeral });
      return [200, {}];
    }
    if (req.method === 'GET' && (m = /^\/_matrix\/app\/v1\/users\/([^/]+)$/.exec(path))) {
      const userId = decodeURIComponent(m[1]!);
      this.userQueries.push(userId);
      return (await this.onUserQuery(userId)) ? [200, {}] : [404, { errcode: 'M_NOT_FOUND', error: 'no' }];
    }
    if (req.method === 'GET' && (m = /^\/_matrix\/app\/v1\/rooms\/([^/]+)$/.exec(path))) {
      const alias = decodeURIComponent(m[1]!);
      this.aliasQueries.push(alias);
      return (await this.onAliasQuery(alias)) ? [200, {}] : [404, { errcode: 'M_NOT_FOUND', error: 'no' }];
    }
    if (req.method === 'POST' && path === '/_matrix/app/v1/ping') {
      this.pings.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      return [200, {}];
    }
    return [404, { errcode: 'M_UNRECOGNIZED', error: 'unknown' }];
  }

  static async start(hsToken: string): Promise<AppserviceStandIn> {
    const s = new AppserviceStandIn(hsToken);
    await new Promise<void>((resolve) => s.#server.listen(0, '127.0.0.1', resolve));
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Every event received, in the order received, once per transaction id. */
  get events(): Array<Record<string, any>> {
    return this.transactions.flatMap((t) => t.events);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
