import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const V1 = '/_tocsin/v1';

function nextMessage(ws: WebSocket, accept: (msg: any) => boolean): Promise<any> {
  return new Promise((resolve, reject) => {
    const onMessage = (data: WebSocket.RawData) => {
      const msg = JSON.parse(data.toString());
      if (accept(msg)) {
        ws.off('message', onMessage);
        resolve(msg);
      }
    };
    ws.on('message', onMessage);
    ws.once('error', reject);
  });
}

describe('live acknowledgement board (WebSocket)', () => {
  let server: TestServer;
  let admin: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'live-admin');
    bob = await registerUser(server.url, 'live-bob');
  });
  afterAll(closeAllTestServers);

  it('pushes the status as acknowledgements arrive', async () => {
    const created = await admin.api.post(`${V1}/alerts`, { severity: 'critical', title: 'Live', body: 'Tableau', audience: [bob.userId], escalation: [{ after_s: 0, channels: ['matrix'] }] });
    const alertId = created.body.alert_id;
    const wsUrl = `${server.url.replace('http', 'ws')}${V1}/alerts/${alertId}/live?access_token=${admin.token}`;
    const ws = new WebSocket(wsUrl);
    const first = await nextMessage(ws, () => true);
    expect(first.alert_id).toBe(alertId);
    expect(first.recipients[0].acknowledged_at).toBeNull();
    const acked = nextMessage(ws, (m) => m.recipients?.[0]?.acknowledged_at !== null);
    await bob.api.post(`${V1}/alerts/${alertId}/ack`);
    const status = await acked;
    expect(status.recipients[0].ack_channel).toBe('app');
    ws.close();
  });

  it('refuses a missing or forged token and unknown alerts', async () => {
    const base = server.url.replace('http', 'ws');
    const refused = (url: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url);
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => undefined);
      });
    expect(await refused(`${base}${V1}/alerts/al_x/live`)).toBe(401);
    expect(await refused(`${base}${V1}/alerts/al_x/live?access_token=forged`)).toBe(401);
    expect(await refused(`${base}/nowhere?access_token=${admin.token}`)).toBe(404);
    const ws = new WebSocket(`${base}${V1}/alerts/al_unknown/live?access_token=${bob.token}`);
    const msg = await nextMessage(ws, () => true);
    expect(msg.errcode).toBe('M_NOT_FOUND');
  });
});
