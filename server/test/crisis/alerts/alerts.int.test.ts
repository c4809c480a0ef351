import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, eventually, registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const V1 = '/_tocsin/v1';

interface Status {
  alert_id: string;
  state: string;
  recipients: Array<{ user_id: string; acknowledged_at: number | null; ack_channel: string | null; deliveries: Array<{ channel: string; state: string; at: number; step: number }> }>;
}

async function alertMessageIn(user: TestUser, alertId: string): Promise<{ roomId: string; event: any }> {
  return eventually(async () => {
    const sync = await user.api.get('/_matrix/client/v3/sync?timeout=0');
    for (const [roomId, room] of Object.entries<any>(sync.body.rooms?.join ?? {})) {
      const event = room.timeline.events.find((e: any) => e.content?.['org.tocsin.alert']?.alert_id === alertId);
      if (event) return { roomId, event };
    }
    return undefined;
  }, `alert ${alertId} in ${user.userId}'s rooms`);
}

describe('alerts', () => {
  let server: TestServer;
  let admin: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let dave: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'chef');
    bob = await registerUser(server.url, 'bob');
    carol = await registerUser(server.url, 'carol');
    dave = await registerUser(server.url, 'dave');
    expect((await admin.api.put(`${V1}/admin/groups/cellule`, { display_name: 'Cellule de crise', members: [bob.userId, carol.userId] })).status).toBe(200);
    expect((await admin.api.put(`${V1}/admin/users/${enc(bob.userId)}/contacts`, { email: 'bob@example.org', phone: '+33612345678' })).status).toBe(200);
  });

  afterAll(closeAllTestServers);

  it('reaches a group over Matrix; a reaction and a link acknowledge', async () => {
    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'critical',
      title: 'Inondation',
      body: 'Crue de la Seine : cellule de crise à 14h salle B.',
      audience: ['group:cellule'],
      escalation: [{ after_s: 0, channels: ['matrix'] }],
    });
    expect(created.status).toBe(200);
    const alertId = created.body.alert_id as string;
    expect(alertId).toMatch(/^al_/);

    const atBob = await alertMessageIn(bob, alertId);
    expect(atBob.event.type).toBe('m.room.message');
    expect(atBob.event.content.body).toContain('Inondation');
    const reaction = await bob.api.put(`/_matrix/client/v3/rooms/${enc(atBob.roomId)}/send/m.reaction/r1`, {
      'm.relates_to': { rel_type: 'm.annotation', event_id: atBob.event.event_id, key: '✅' },
    });
    expect(reaction.status).toBe(200);

    const atCarol = await alertMessageIn(carol, alertId);
    const ackUrl = new URL(atCarol.event.content['org.tocsin.alert'].ack_url as string);
    const page = await fetch(`${server.url}${ackUrl.pathname}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Inondation');
    expect(html).not.toContain('<script');
    expect(Buffer.byteLength(html)).toBeLessThan(4096);
    const posted = await fetch(`${server.url}${ackUrl.pathname}`, { method: 'POST' });
    expect(posted.status).toBe(200);
    expect(await posted.text()).toContain('enregistré');

    const status = await eventually(async () => {
      const res = await admin.api.get<Status>(`${V1}/alerts/${alertId}`);
      return res.body.recipients.every((r) => r.acknowledged_at !== null) ? res.body : undefined;
    }, 'both acknowledged');
    expect(status.state).toBe('acknowledged');
    const byUser = Object.fromEntries(status.recipients.map((r) => [r.user_id, r]));
    expect(byUser[bob.userId]!.ack_channel).toBe('matrix');
    expect(byUser[carol.userId]!.ack_channel).toBe('matrix');
    expect(byUser[bob.userId]!.deliveries).toEqual([expect.objectContaining({ channel: 'matrix', state: 'sent', step: 0 })]);

    // A replayed link changes nothing: still one acknowledgement, same channel.
    const replay = await fetch(`${server.url}${ackUrl.pathname}`, { method: 'POST', headers: { accept: 'application/json' } });
    expect(replay.status).toBe(200);
    expect((await replay.json()).first).toBe(false);
  });

  it('stops the later steps for whoever acknowledged, and only for them', async () => {
    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'warning',
      title: 'Coupure réseau',
      body: 'Bascule sur le site de secours.',
      audience: [bob.userId, carol.userId],
      // The later step is far away: the test never races the clock.
      escalation: [
        { after_s: 0, channels: ['matrix', 'email'] },
        { after_s: 600, channels: ['email'] },
      ],
    });
    const alertId = created.body.alert_id as string;
    expect((await bob.api.post(`${V1}/alerts/${alertId}/ack`, {})).status).toBe(200);
    const status = await eventually(async () => {
      const res = await admin.api.get<Status>(`${V1}/alerts/${alertId}`);
      const carolNow = res.body.recipients.find((r) => r.user_id === carol.userId)!.deliveries.find((d) => d.channel === 'email' && d.step === 0)!;
      return carolNow.state !== 'pending' ? res.body : undefined;
    }, 'carol first email step dispatched');
    const bobLine = status.recipients.find((r) => r.user_id === bob.userId)!;
    expect(bobLine.ack_channel).toBe('app');
    expect(bobLine.deliveries.find((d) => d.channel === 'email' && d.step === 1)!.state).toBe('cancelled');
    const carolLine = status.recipients.find((r) => r.user_id === carol.userId)!;
    // No email channel is configured in this server: a due email step fails, visibly.
    expect(carolLine.deliveries.find((d) => d.channel === 'email' && d.step === 0)!.state).toBe('failed');
    expect(carolLine.deliveries.find((d) => d.channel === 'email' && d.step === 1)!.state).toBe('pending');
  });

  it('holds info alerts during quiet hours and lets critical ones through', async () => {
    // Quiet all day long except one minute: "now" is inside it.
    const now = new Date();
    const end = new Date(now.getTime() - 60_000);
    const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    const quiet = { time_zone: 'UTC', start: hhmm(now), end: hhmm(end) };
    expect((await dave.api.put(`${V1}/me/quiet_hours`, quiet)).status).toBe(200);
    expect((await dave.api.get(`${V1}/me/quiet_hours`)).body).toEqual(quiet);

    const info = await admin.api.post(`${V1}/alerts`, { severity: 'info', title: 'Point hebdo', body: 'Rien à signaler.', audience: [dave.userId], escalation: [{ after_s: 0, channels: ['matrix'] }] });
    const critical = await admin.api.post(`${V1}/alerts`, { severity: 'critical', title: 'Évacuation', body: 'Évacuez le bâtiment A.', audience: [dave.userId], escalation: [{ after_s: 0, channels: ['matrix'] }] });
    await alertMessageIn(dave, critical.body.alert_id);
    const held = await admin.api.get<Status>(`${V1}/alerts/${info.body.alert_id}`);
    expect(held.body.recipients[0]!.deliveries[0]!.state).toBe('held');
    expect(held.body.recipients[0]!.deliveries[0]!.at).toBeGreaterThan(Date.now());
    expect((await dave.api.delete(`${V1}/me/quiet_hours`)).status).toBe(200);
  });

  it('refuses bad alerts with clear errors', async () => {
    const base = { severity: 'critical', title: 'x', body: 'y', audience: [bob.userId] };
    const cases: Array<[Api, unknown, number, string]> = [
      [bob.api, base, 403, 'M_FORBIDDEN'],
      [admin.api, { ...base, severity: 'apocalyptic' }, 400, 'M_BAD_JSON'],
      [admin.api, { ...base, body: 'z'.repeat(5000) }, 400, 'M_BAD_JSON'],
      [admin.api, { ...base, audience: ['@mallory:other.example'] }, 400, 'M_INVALID_PARAM'],
      [admin.api, { ...base, audience: ['group:nope'] }, 400, 'M_INVALID_PARAM'],
      [admin.api, { ...base, audience: ["'; DROP TABLE alerts;--"] }, 400, 'M_INVALID_PARAM'],
      [admin.api, { ...base, audience: ['!notmine:localhost'] }, 403, 'M_FORBIDDEN'],
      [admin.api, { ...base, escalation: [{ after_s: -1, channels: ['sms'] }] }, 400, 'M_BAD_JSON'],
      [admin.api, { ...base, escalation: [{ after_s: 0, channels: ['pigeon'] }] }, 400, 'M_BAD_JSON'],
    ];
    for (const [api, body, status, errcode] of cases) {
      const res = await api.post(`${V1}/alerts`, body);
      expect({ status: res.status, errcode: res.body.errcode }).toEqual({ status, errcode });
    }
    expect((await admin.api.get(`${V1}/alerts/al_doesnotexist`)).status).toBe(404);
    const forged = await fetch(`${server.url}/ack/1.AAAAAAAAAAAAAAAA`, { method: 'POST' });
    expect(forged.status).toBe(404);
    expect((await fetch(`${server.url}/ack/%27%20OR%201=1`)).status).toBe(404);
    expect((await dave.api.post(`${V1}/alerts/al_doesnotexist/ack`)).status).toBe(404);
  });

  it('shows a recipient only their own line', async () => {
    const created = await admin.api.post(`${V1}/alerts`, { severity: 'info', title: 'Test', body: 'Test', audience: ['group:cellule'], escalation: [{ after_s: 0, channels: ['matrix'] }] });
    const mine = await bob.api.get<Status>(`${V1}/alerts/${created.body.alert_id}`);
    expect(mine.status).toBe(200);
    expect(mine.body.recipients.map((r) => r.user_id)).toEqual([bob.userId]);
    expect((await dave.api.get(`${V1}/alerts/${created.body.alert_id}`)).status).toBe(404);
    const list = await bob.api.get(`${V1}/alerts`);
    expect(list.body.alerts.some((a: { alert_id: string }) => a.alert_id === created.body.alert_id)).toBe(true);
  });
});
