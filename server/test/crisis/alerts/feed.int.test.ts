import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer } from '../../support/server.ts';

const V1 = '/_tocsin/v1';

describe('alert feed (long-poll for bad links)', () => {
  let admin: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    const server = await startTestServer();
    admin = await registerAdmin(server.url, 'feed-admin');
    bob = await registerUser(server.url, 'feed-bob');
  });
  afterAll(closeAllTestServers);

  const send = (title: string) =>
    admin.api.post(`${V1}/alerts`, { severity: 'critical', title, body: 'Consignes à suivre.', audience: [bob.userId], escalation: [{ after_s: 0, channels: ['matrix'] }] });

  it('wakes a waiting client, sends compact frames, and replays what a reconnecting client missed', async () => {
    const first = await bob.api.get(`${V1}/feed`);
    expect(first.status).toBe(200);
    expect(first.body.alerts).toEqual([]);
    const token = first.body.next as string;

    // A long-poll that outlasts the test's own timeout: only a wake-up answers it in time.
    const waiting = bob.api.get(`${V1}/feed?since=${token}&timeout=110000`);
    await new Promise((r) => setTimeout(r, 200));
    const a1 = (await send('Alerte 1')).body.alert_id;
    const woken = await waiting;
    expect(woken.body.alerts.map((a: { id: string }) => a.id)).toEqual([a1]);
    const frameBytes = Buffer.byteLength(JSON.stringify(woken.body));
    expect(frameBytes).toBeLessThan(500);
    expect(woken.body.alerts[0]).toMatchObject({ id: a1, sev: 'critical', title: 'Alerte 1' });
    expect(woken.body.alerts[0].ack).toBeUndefined();

    // The link drops; two alerts and an acknowledgement happen meanwhile.
    const a2 = (await send('Alerte 2')).body.alert_id;
    const a3 = (await send('Alerte 3')).body.alert_id;
    await bob.api.post(`${V1}/alerts/${a1}/ack`);
    const missed = await bob.api.get(`${V1}/feed?since=${woken.body.next}`);
    expect(missed.body.alerts.map((a: { id: string }) => a.id)).toEqual([a2, a3, a1]);
    expect(missed.body.alerts[2].ack).toBeGreaterThan(0);

    // An acknowledgement of an alert the client already holds comes back as a short delta.
    await bob.api.post(`${V1}/alerts/${a2}/ack`);
    const delta = await bob.api.get(`${V1}/feed?since=${missed.body.next}&timeout=0`);
    expect(delta.body.alerts).toHaveLength(1);
    expect(Object.keys(delta.body.alerts[0]).sort()).toEqual(['ack', 'id']);
    expect(delta.body.alerts[0].id).toBe(a2);
    // A client starting afresh gets the whole alert, acknowledgement included.
    const fresh = await bob.api.get(`${V1}/feed`);
    expect(fresh.body.alerts.find((a: { id: string }) => a.id === a2)).toMatchObject({ title: 'Alerte 2', ack: expect.any(Number) });

    const nothing = await bob.api.get(`${V1}/feed?since=${delta.body.next}&timeout=0`);
    expect(nothing.body.alerts).toEqual([]);
    expect((await bob.api.get(`${V1}/feed?since=garbage`)).body.errcode).toBe('M_INVALID_PARAM');
  });
});
