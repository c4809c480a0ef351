import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { match } from 'path-to-regexp';
import { WebSocketServer, type WebSocket } from 'ws';
import { MatrixError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Requester } from './route.ts';

export interface SocketRoute {
  path: string;
  /** Runs for each accepted connection; closing the socket is its business. */
  handler: (ws: WebSocket, ctx: { requester: Requester; params: Record<string, string> }) => void;
}

/**
 * WebSocket endpoints. Browsers cannot set an Authorization header on a WebSocket, so the
 * access token comes as the `access_token` query parameter (or the header, for other clients).
 */
export function attachWebSockets(server: Server, routes: SocketRoute[], authenticate: (token: string) => Promise<Requester>, log: Logger): () => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: { threshold: 256 } });
  const compiled = routes.map((r) => ({ route: r, match: match<Record<string, string>>(r.path, { decode: decodeURIComponent }) }));

  const refuse = (socket: Duplex, status: number, errcode: string, error: string) => {
    const body = JSON.stringify({ errcode, error });
    socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Not Found'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const found = compiled.map((c) => ({ c, m: c.match(url.pathname) })).find((x) => x.m);
    if (!found || !found.m) return refuse(socket, 404, 'M_UNRECOGNIZED', 'Unrecognized request');
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : url.searchParams.get('access_token');
    if (!token) return refuse(socket, 401, 'M_MISSING_TOKEN', 'Missing access token.');
    authenticate(token).then(
      (requester) => {
        wss.handleUpgrade(req, socket, head, (ws) => {
          try {
            found.c.route.handler(ws, { requester, params: found.m ? found.m.params : {} });
          } catch (err) {
            log.warn({ err }, 'websocket handler failed');
            ws.close(1011);
          }
        });
      },
      (err: unknown) => {
        if (err instanceof MatrixError) refuse(socket, err.status, err.errcode, err.message);
        else refuse(socket, 401, 'M_UNKNOWN_TOKEN', 'Unknown access token.');
      },
    );
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
    for (const client of wss.clients) client.terminate();
    wss.close();
  };
}
