import type { WebSocket } from 'ws';
import type { SocketRoute } from '../../http/websocket.ts';
import type { Logger } from '../../logger.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import type { AlertService } from './alert-service.ts';

const NOBODY = '';
const KEEPALIVE_MS = 25_000;

/**
 * The live acknowledgement board of one alert (crisis console): the full status on connect,
 * then again each time something changes (deliveries, acknowledgements), at most every 250 ms.
 */
export function liveAlertRoute(alerts: AlertService, bus: NotifyBus, log: Logger): SocketRoute {
  return {
    path: '/_tocsin/v1/alerts/:alertId/live',
    handler: (ws: WebSocket, { requester, params }) => {
      const alertId = params.alertId!;
      const topic = new Set([`alert:${alertId}`]);
      const abort = new AbortController();
      ws.on('close', () => abort.abort());
      ws.on('error', () => abort.abort());
      const ping = setInterval(() => ws.ping(), KEEPALIVE_MS);
      ws.on('close', () => clearInterval(ping));
      void (async () => {
        while (!abort.signal.aborted) {
          const tick = bus.tick;
          try {
            const status = await alerts.status(requester, alertId);
            ws.send(JSON.stringify(status));
          } catch (err) {
            const e = err as { errcode?: string; message?: string };
            ws.send(JSON.stringify({ errcode: e.errcode ?? 'M_UNKNOWN', error: e.message ?? 'error' }));
            ws.close(1008);
            return;
          }
          await bus.wait(NOBODY, topic, tick, 60_000, abort.signal);
          await new Promise((r) => setTimeout(r, 250));
        }
      })().catch((err: unknown) => log.warn({ err, alertId }, 'live alert stream failed'));
    },
  };
}
