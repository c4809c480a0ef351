import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/storage/db.ts';
import { Api, eventually } from '../../support/client.ts';
import { makeDatabase, testDatabaseKind } from '../../support/server.ts';
import { freePort, spawnServer, type ServerProcess } from '../../support/server-process.ts';
import { TestSmsc } from '../../support/smsc.ts';
import { SmtpReceiver } from '../../support/smtp-receiver.ts';
import { WebPushReceiver, type FakeBrowser } from '../../support/webpush-receiver.ts';
import { seedRecipients, type SeedRecipient } from './seed-recipients.ts';

/**
 * The crash test: one critical alert to 1,000 people, whose plan sends web push at
 * once and SMS + email a few seconds later; the server process is killed with SIGKILL in the
 * middle of the web-push fan-out, started again on the same data, killed again in the middle
 * of the SMS/email fan-out, and started again. Real receivers count what each person got.
 *
 * After the restarts:
 *  - every recipient who did not acknowledge got each step at least once;
 *  - a step recorded as sent (or delivered) in the database at a kill was never sent again
 *    (what was dispatched but not yet recorded may go twice: the receiver cannot tell);
 *  - acknowledgements answered before the first kill are kept, and those recipients get no
 *    later step (no SMS, no email).
 * The engine's lease is 2 s (alerts.lease_s), so the new process takes over the dead one's
 * claims without waiting minutes; nothing else is needed but the restart.
 */

const RECIPIENTS = 1000;
const ACKERS = 10;
/** Kill when this many pushes (then SMS) have arrived: in the middle of the fan-out. */
const KILL_AT = 300;
const SMS_STEP_S = 4;
const V1 = '/_tocsin/v1';

interface Status {
  state: string;
  recipients: Array<{
    user_id: string;
    acknowledged_at: number | null;
    ack_channel: string | null;
    deliveries: Array<{ channel: string; step: number; state: string }>;
  }>;
}

interface Recorded {
  id: number;
  user_id: string;
  channel: string;
  state: string;
}

const countBy = <T>(items: T[], key: (item: T) => string | undefined): Map<string, number> => {
  const out = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    if (k !== undefined) out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
};

async function until(check: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('crash in the middle of an alert fan-out (SIGKILL)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('carries on after restarts: every step at least once, recorded steps never twice, acks kept', { timeout: 360_000 }, async () => {
    const push = await WebPushReceiver.start();
    cleanups.push(() => push.close());
    const smtp = await SmtpReceiver.start({ starttls: false });
    cleanups.push(() => smtp.close());
    const smsc = await TestSmsc.start();
    cleanups.push(() => smsc.stop());
    // The SMSC answers each submit_sm after a few ms: the SMS fan-out lasts seconds, not a blink.
    smsc.responseDelayMs = 5;

    const database = await makeDatabase(testDatabaseKind());
    cleanups.push(() => database.drop());
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-alert-crash-'));
    const configFile = path.join(dir, 'tocsin.yaml');
    writeFileSync(
      configFile,
      [
        'channels:',
        `  email: { smtp_url: "${smtp.url()}", from: "Tocsin <alertes@example.org>", max_connections: 10 }`,
        `  sms: { smpp: { url: "${smsc.url()}", source: "TOCSIN", messages_per_second: 400, max_in_flight: 20 } }`,
        '  webpush: { subject: "mailto:dsi@example.org" }',
        'outbound_allow_ranges: ["127.0.0.0/8"]',
        'alerts: { lease_s: 2 }',
      ].join('\n'),
    );
    const env: Record<string, string> = { ...database.env, TOCSIN_CONFIG: configFile, PUBLIC_BASEURL: 'https://crise.example.org' };

    // 1,000 recipients, each with a fake browser, an address and a phone, written before the
    // server starts (the embedded database has one owner).
    const browsers: FakeBrowser[] = [];
    const recipients: SeedRecipient[] = [];
    for (let i = 0; i < RECIPIENTS; i++) {
      const browser = push.newBrowser();
      browsers.push(browser);
      recipients.push({
        userId: `@r${i}:localhost`,
        email: `r${i}@example.org`,
        phone: `+336${String(10_000_000 + i).padStart(8, '0')}`,
        push: { endpoint: browser.subscription.endpoint, ...browser.subscription.keys },
      });
    }
    const ackers = recipients.slice(0, ACKERS * 37).filter((_, i) => i % 37 === 0).map((r) => r.userId);
    const seeding = await openDatabase({ dataDir: database.dataDir, databaseUrl: env.DATABASE_URL });
    const seeded = await seedRecipients(seeding.db, { groupId: 'crash', recipients, withTokens: ackers, adminLocalpart: 'crashadmin' });
    await seeding.close();

    const userOfBrowser = new Map(browsers.map((b, i) => [b.id, recipients[i]!.userId]));
    const userOfPhone = new Map(recipients.map((r) => [r.phone.slice(1), r.userId]));
    const userOfEmail = new Map(recipients.map((r) => [r.email, r.userId]));
    const counts = () => ({
      webpush: countBy(push.received, (p) => userOfBrowser.get(p.browserId)),
      sms: countBy(smsc.messages, (m) => userOfPhone.get(m.to)),
      email: countBy(smtp.messages, (m) => userOfEmail.get(m.envelope.to[0] ?? '')),
    });

    const port = await freePort();
    let server: ServerProcess = await spawnServer(env, port);
    cleanups.push(() => server.stop());
    const api = new Api(server.url, seeded.adminToken);

    /** Kills the server; resolves with what the receivers had got from it, once they are drained. */
    const kill = async (): Promise<ReturnType<typeof counts>> => {
      server.child.kill('SIGKILL');
      const how = await server.exited;
      expect(how.signal).toBe('SIGKILL');
      // Bytes the dead process wrote are still in loopback buffers: let the receivers read them.
      await new Promise((r) => setTimeout(r, 500));
      return counts();
    };
    // What the database holds once the process is dead: the states "recorded before the kill".
    const recorded = async (alertId: string): Promise<Recorded[]> => {
      const db = await openDatabase({ dataDir: database.dataDir, databaseUrl: env.DATABASE_URL });
      try {
        return (await db.db('alert_deliveries').where({ alert_id: alertId }).select('id', 'user_id', 'channel', 'state')).map((r: Recorded) => ({ ...r, id: Number(r.id) }));
      } finally {
        await db.close();
      }
    };

    const created = await api.post(`${V1}/alerts`, {
      severity: 'critical',
      title: 'Crue éclair',
      body: 'Montez aux étages, ne prenez pas la voiture.',
      audience: ['group:crash'],
      escalation: [
        { after_s: 0, channels: ['webpush'] },
        { after_s: SMS_STEP_S, channels: ['sms', 'email'] },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body.recipients).toBe(RECIPIENTS);
    const alertId = created.body.alert_id as string;

    // A few recipients acknowledge from the app while the pushes go out.
    const acks = await Promise.all(ackers.map((userId) => new Api(server.url, seeded.tokens.get(userId)).post(`${V1}/alerts/${alertId}/ack`, {})));
    for (const a of acks) expect(a.status, JSON.stringify(a.body)).toBe(200);

    // Kill 1: in the middle of the web-push fan-out.
    await until(() => push.received.length >= KILL_AT, 'pushes before the first kill');
    const atKill1 = await kill();
    const pushesAtKill1 = push.received.length;
    const snapshot1 = await recorded(alertId);

    server = await spawnServer(env, port);
    // Kill 2: in the middle of the SMS and email fan-out.
    await until(() => smsc.messages.length >= KILL_AT, 'SMS before the second kill');
    const atKill2 = await kill();
    const messagesAtKill2 = { sms: smsc.messages.length, email: smtp.messages.length };
    const snapshot2 = await recorded(alertId);

    server = await spawnServer(env, port);
    const final = await eventually(
      async () => {
        const res = await api.get<Status>(`${V1}/alerts/${alertId}`);
        if (res.status !== 200) return undefined;
        const open = res.body.recipients.some((r) => r.deliveries.some((d) => d.state === 'pending' || d.state === 'held'));
        return open ? undefined : res.body;
      },
      'every delivery settled after the restarts',
      1200,
      100,
    );
    const got = counts();
    console.log(
      `[alert crash ${testDatabaseKind()}] kill 1 after ${pushesAtKill1} pushes (${snapshot1.filter((d) => d.channel === 'webpush' && d.state === 'sent').length} recorded sent); ` +
        `kill 2 after ${messagesAtKill2.sms} SMS, ${messagesAtKill2.email} emails (${snapshot2.filter((d) => d.channel !== 'webpush' && d.state === 'sent').length} recorded sent); ` +
        `at the end: ${push.received.length} pushes, ${smsc.messages.length} SMS, ${smtp.messages.length} emails for ${RECIPIENTS} recipients`,
    );

    // Nothing was refused by the push service (VAPID, encryption), no SMS split in parts.
    expect(push.refused).toEqual([]);
    expect(smsc.submits.length).toBe(smsc.messages.length);

    // Acknowledgements made before the kills are kept, and stopped the later steps.
    const ackerSet = new Set(ackers);
    for (const line of final.recipients.filter((r) => ackerSet.has(r.user_id))) {
      expect(line.acknowledged_at, line.user_id).not.toBeNull();
      expect(line.ack_channel).toBe('app');
      expect(line.deliveries.filter((d) => d.channel !== 'webpush').map((d) => d.state)).toEqual(['cancelled', 'cancelled']);
      expect(got.sms.get(line.user_id) ?? 0, `SMS to ${line.user_id} after their ack`).toBe(0);
      expect(got.email.get(line.user_id) ?? 0, `email to ${line.user_id} after their ack`).toBe(0);
    }
    expect(final.recipients.filter((r) => r.acknowledged_at !== null).map((r) => r.user_id).sort()).toEqual([...ackers].sort());

    // Everyone else got each step at least once, and the database says sent.
    for (const line of final.recipients.filter((r) => !ackerSet.has(r.user_id))) {
      expect(line.deliveries.map((d) => `${d.channel}:${d.state}`).sort(), line.user_id).toEqual(['email:sent', 'sms:sent', 'webpush:sent']);
      for (const channel of ['webpush', 'sms', 'email'] as const) {
        expect(got[channel].get(line.user_id) ?? 0, `${channel} to ${line.user_id}`).toBeGreaterThanOrEqual(1);
      }
    }

    // A step recorded as sent when a process died was never sent again after that (a step
    // dispatched but not yet recorded may go twice: the new process cannot know it went).
    const settledAt = [
      { snapshot: snapshot1, before: atKill1 },
      { snapshot: snapshot2, before: atKill2 },
    ];
    const again: string[] = [];
    for (const { snapshot, before } of settledAt) {
      for (const d of snapshot.filter((x) => x.state === 'sent' || x.state === 'delivered')) {
        const channel = d.channel as 'webpush' | 'sms' | 'email';
        const then = before[channel].get(d.user_id) ?? 0;
        const now = got[channel].get(d.user_id) ?? 0;
        if (then < 1 || now !== then) again.push(`${channel} ${d.user_id}: ${then} at the kill, ${now} at the end`);
      }
    }
    expect(again).toEqual([]);
    expect(snapshot1.filter((d) => d.state === 'sent').length).toBeGreaterThan(0);
    // The first kill did land in the middle of the push fan-out, the second in the SMS one.
    expect(snapshot1.some((d) => d.channel === 'webpush' && d.state !== 'sent' && d.state !== 'cancelled')).toBe(true);
    expect(snapshot2.some((d) => d.channel === 'sms' && d.state !== 'sent' && d.state !== 'cancelled')).toBe(true);
  });
});
