import { writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc, eventually, registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { TestSmsc } from '../../support/smsc.ts';
import { SmtpReceiver } from '../../support/smtp-receiver.ts';
import { WebPushReceiver, type FakeBrowser } from '../../support/webpush-receiver.ts';

const V1 = '/_tocsin/v1';

interface Status {
  state: string;
  recipients: Array<{ user_id: string; acknowledged_at: number | null; ack_channel: string | null; deliveries: Array<{ channel: string; state: string; step: number }> }>;
}

// Every channel against a real receiver: SMTP server, SMSC (SMPP), push service with a fake
// browser that decrypts RFC 8291 payloads. The escalation runs in seconds instead of minutes.
describe('alerts over every channel', () => {
  let server: TestServer;
  let smtp: SmtpReceiver;
  let smsc: TestSmsc;
  let push: WebPushReceiver;
  let admin: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let bobBrowser: FakeBrowser;
  let carolBrowser: FakeBrowser;

  beforeAll(async () => {
    smtp = await SmtpReceiver.start({ starttls: false });
    smsc = await TestSmsc.start();
    push = await WebPushReceiver.start();
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-channels-'));
    const config = path.join(dir, 'tocsin.yaml');
    writeFileSync(
      config,
      [
        'channels:',
        `  email: { smtp_url: "${smtp.url()}", from: "Tocsin <alertes@example.org>" }`,
        `  sms: { smpp: { url: "${smsc.url()}", source: "TOCSIN" } }`,
        '  webpush: { subject: "mailto:dsi@example.org" }',
        'outbound_allow_ranges: ["127.0.0.0/8"]',
      ].join('\n'),
    );
    server = await startTestServer({ TOCSIN_CONFIG: config, PUBLIC_BASEURL: 'https://crise.example.org' });
    admin = await registerAdmin(server.url, 'chan-admin');
    bob = await registerUser(server.url, 'chan-bob');
    carol = await registerUser(server.url, 'chan-carol');
    await admin.api.put(`${V1}/admin/users/${enc(bob.userId)}/contacts`, { email: 'bob@example.org', phone: '+33611111111' });
    await admin.api.put(`${V1}/admin/users/${enc(carol.userId)}/contacts`, { email: 'carol@example.org', phone: '+33622222222' });
    const vapid = (await bob.api.get(`${V1}/push/vapid`)).body.public_key as string;
    bobBrowser = push.newBrowser({ applicationServerKey: vapid });
    carolBrowser = push.newBrowser({ applicationServerKey: vapid });
    expect((await bob.api.post(`${V1}/push/subscriptions`, bobBrowser.subscription)).status).toBe(200);
    expect((await carol.api.post(`${V1}/push/subscriptions`, carolBrowser.subscription)).status).toBe(200);
  });

  afterAll(async () => {
    await closeAllTestServers();
    await smtp?.close();
    await smsc?.stop();
    await push?.close();
  });

  it('escalates to SMS and email for whoever does not acknowledge, and stops for whoever does', async () => {
    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'critical',
      title: 'Incendie',
      body: 'Évacuation du bâtiment C, rassemblement parking nord.',
      audience: [bob.userId, carol.userId],
      // Carol's acknowledgement must land before the SMS step falls due: on a loaded machine the
      // push, its decryption and the ack can take a few seconds, so the steps leave room for it.
      escalation: [
        { after_s: 0, channels: ['webpush'] },
        { after_s: 10, channels: ['sms'] },
        { after_s: 11, channels: ['email'] },
      ],
    });
    expect(created.status).toBe(200);
    const alertId = created.body.alert_id as string;

    // Carol taps the notification's action: the service worker posts to ack_url with the token.
    const carolPush = await eventually(async () => push.receivedBy(carolBrowser)[0], 'push to carol');
    const payload = JSON.parse(carolPush.payload);
    expect(payload).toMatchObject({ t: 'alert', id: alertId, sev: 'critical', title: 'Incendie' });
    expect(carolPush.urgency).toBe('high');
    const ackUrl = new URL(payload.ack_url);
    expect(ackUrl.origin).toBe('https://crise.example.org');
    const acked = await fetch(`${server.url}${ackUrl.pathname}`, { method: 'POST', headers: { accept: 'application/json' } });
    expect((await acked.json()).acknowledged).toBe(true);

    // Bob does nothing: SMS, then email.
    const sms = await eventually(async () => smsc.messages.find((m) => m.to.endsWith('611111111')), 'SMS to bob');
    expect(sms.text).toContain('Incendie');
    const mail = await eventually(async () => smtp.messages.find((m) => m.envelope.to.includes('bob@example.org')), 'email to bob');
    expect(mail.parsed.subject).toContain('Incendie');
    expect(mail.raw).toMatch(/^X-Priority: 1/m);

    const status = await eventually(async () => {
      const res = await admin.api.get<Status>(`${V1}/alerts/${alertId}`);
      const bobLine = res.body.recipients.find((r) => r.user_id === bob.userId)!;
      return bobLine.deliveries.every((d) => d.state === 'sent' || d.state === 'delivered') ? res.body : undefined;
    }, 'bob: every step out');
    const carolLine = status.recipients.find((r) => r.user_id === carol.userId)!;
    expect(carolLine.ack_channel).toBe('webpush');
    expect(carolLine.deliveries.filter((d) => d.channel !== 'webpush').map((d) => d.state)).toEqual(['cancelled', 'cancelled']);
    expect(smsc.messages.some((m) => m.to.endsWith('622222222'))).toBe(false);
    expect(smtp.messages.some((m) => m.envelope.to.includes('carol@example.org'))).toBe(false);

    // The SMSC reports the SMS delivered; Bob answers "ok" from his phone.
    const submit = smsc.submits.find((s) => s.to.endsWith('611111111'))!;
    await smsc.sendReceipt(submit.messageId, 'DELIVRD');
    await smsc.sendMo('+33611111111', 'ok merci');
    const final = await eventually(async () => {
      const res = await admin.api.get<Status>(`${V1}/alerts/${alertId}`);
      const bobLine = res.body.recipients.find((r) => r.user_id === bob.userId)!;
      const smsState = bobLine.deliveries.find((d) => d.channel === 'sms')!.state;
      return bobLine.acknowledged_at !== null && smsState === 'delivered' ? res.body : undefined;
    }, 'bob acknowledged by SMS, SMS delivered');
    expect(final.recipients.find((r) => r.user_id === bob.userId)!.ack_channel).toBe('sms');
    expect(final.state).toBe('acknowledged');
  });

  it('ignores replies from unknown numbers and refuses bad subscriptions', async () => {
    const created = await admin.api.post(`${V1}/alerts`, { severity: 'warning', title: 'Test', body: 'Test', audience: [bob.userId], escalation: [{ after_s: 0, channels: ['matrix'] }] });
    await smsc.sendMo('+33699999999', 'OK');
    await new Promise((r) => setTimeout(r, 300));
    const status = await admin.api.get<Status>(`${V1}/alerts/${created.body.alert_id}`);
    expect(status.body.recipients[0]!.acknowledged_at).toBeNull();

    const bad = [
      { endpoint: 'http://10.0.0.1/push', keys: bobBrowser.subscription.keys },
      { endpoint: 'https://push.example.org/x', keys: { p256dh: 'short', auth: 'x' } },
      { endpoint: 'javascript:alert(1)', keys: bobBrowser.subscription.keys },
      'not even an object',
    ];
    for (const body of bad) {
      const res = await bob.api.post(`${V1}/push/subscriptions`, body);
      expect(res.status).toBe(400);
      expect(['M_BAD_JSON', 'M_NOT_JSON']).toContain(res.body.errcode);
    }
  });
});
