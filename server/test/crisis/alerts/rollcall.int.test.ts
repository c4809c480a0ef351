import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const V1 = '/_tocsin/v1';

describe('roll call ("are you safe?")', () => {
  let server: TestServer;
  let admin: TestUser;
  let people: TestUser[];

  beforeAll(async () => {
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'rc-chef');
    people = [];
    for (const name of ['rc-ana', 'rc-ben', 'rc-cleo']) people.push(await registerUser(server.url, name));
  });
  afterAll(closeAllTestServers);

  it('takes answers from the app and the no-JS link, and tallies them in the status', async () => {
    const [ana, ben, cleo] = people as [TestUser, TestUser, TestUser];
    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'critical',
      title: 'Séisme',
      body: 'Secousse ressentie. Êtes-vous en sécurité ?',
      audience: people.map((p) => p.userId),
      escalation: [{ after_s: 0, channels: ['matrix'] }],
      rollcall: { question: 'Êtes-vous en sécurité ?', answers: ['Oui', 'Besoin d’aide'] },
    });
    expect(created.status).toBe(200);
    const alertId = created.body.alert_id as string;

    // Ana answers from the app; a wrong answer is refused and records nothing.
    const wrong = await ana.api.post(`${V1}/alerts/${alertId}/ack`, { answer: 'Peut-être' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errcode).toBe('M_INVALID_PARAM');
    expect((await ana.api.post(`${V1}/alerts/${alertId}/ack`, { answer: 'Oui' })).status).toBe(200);

    // Ben answers from the link of his Matrix message, as the no-JS page's form posts it.
    const link = await eventually(async () => {
      const sync = await ben.api.get('/_matrix/client/v3/sync?timeout=0');
      for (const room of Object.values<any>(sync.body.rooms?.join ?? {})) {
        const event = room.timeline.events.find((e: any) => e.content?.['org.tocsin.alert']?.alert_id === alertId);
        if (event) return new URL(event.content['org.tocsin.alert'].ack_url as string);
      }
      return undefined;
    }, 'the alert in ben’s room');
    const page = await (await fetch(`${server.url}${link.pathname}`)).text();
    expect(page).toContain('name="answer" value="Besoin d’aide"');
    const posted = await fetch(`${server.url}${link.pathname}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ answer: 'Besoin d’aide' }).toString(),
    });
    expect(posted.status).toBe(200);
    expect(await posted.text()).toContain('Besoin d’aide');

    // Cleo has not answered. The sender sees the tally; a recipient sees only their own line.
    const status = await admin.api.get(`${V1}/alerts/${alertId}`);
    expect(status.body.rollcall).toEqual({
      question: 'Êtes-vous en sécurité ?',
      answers: ['Oui', 'Besoin d’aide'],
      results: { Oui: 1, 'Besoin d’aide': 1 },
      unanswered: 1,
    });
    expect(status.body.counts).toMatchObject({ recipients: 3, acknowledged: 2, pending: 1, by_channel: { app: 1, matrix: 1 } });
    expect(status.body.counts.time_to_ack_ms.median).toBeGreaterThanOrEqual(0);
    const byUser = Object.fromEntries(status.body.recipients.map((r: { user_id: string }) => [r.user_id, r]));
    expect(byUser[ben.userId]).toMatchObject({ rollcall_answer: 'Besoin d’aide', ack_channel: 'matrix' });
    expect(byUser[cleo.userId].acknowledged_at).toBeNull();
    const own = await cleo.api.get(`${V1}/alerts/${alertId}`);
    expect(own.body.recipients).toHaveLength(1);
    expect(own.body.rollcall.results).toEqual({ Oui: 0, 'Besoin d’aide': 0 });

    // Ana changes her answer: still one acknowledgement, the tally follows.
    expect((await ana.api.post(`${V1}/alerts/${alertId}/ack`, { answer: 'Besoin d’aide' })).body.first).toBe(false);
    const again = await admin.api.get(`${V1}/alerts/${alertId}`);
    expect(again.body.rollcall.results).toEqual({ Oui: 0, 'Besoin d’aide': 2 });
    expect(again.body.counts.acknowledged).toBe(2);
  });
});
