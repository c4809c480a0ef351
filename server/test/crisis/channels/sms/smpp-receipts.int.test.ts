import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckLinks } from '../../../../src/crisis/alerts/ack-links.ts';
import { AlertService } from '../../../../src/crisis/alerts/alert-service.ts';
import { AlertChannelEvents } from '../../../../src/crisis/alerts/channel-events.ts';
import { SmsMessageIdStore } from '../../../../src/crisis/channels/sms/message-id-store.ts';
import { SmppChannel } from '../../../../src/crisis/channels/sms/smpp-channel.ts';
import { createLogger } from '../../../../src/logger.ts';
import { finishDelivery, insertDeliveries } from '../../../../src/storage/alert-deliveries.ts';
import { insertAlert, insertRecipients } from '../../../../src/storage/alerts.ts';
import { makeDelivery } from '../../../support/channel-fixtures.ts';
import { addTestUser, openTestDb, type TestDb } from '../../../support/crisis-db.ts';
import { TestSmsc } from '../../../support/smsc.ts';

// The SMSC's message ids live in the database: a delivery receipt that comes after a restart
// (a new SmppChannel on the same database, as a new process) still finds its delivery, for
// every part of a long message, and also when the delivery's external id was not recorded.
describe('SMPP delivery receipts across a restart', () => {
  let t: TestDb;
  let smsc: TestSmsc;
  const channels: SmppChannel[] = [];

  beforeAll(async () => {
    t = await openTestDb();
    smsc = await TestSmsc.start();
  });
  afterAll(async () => {
    for (const c of channels) await c.close();
    await smsc.stop();
    await t.close();
  });

  it('matches receipts to deliveries from the database after a restart', async () => {
    const user = '@receipts:localhost';
    await addTestUser(t.db, user);
    const log = createLogger('silent');
    const now = Date.now();
    const alertId = 'al_receipts';
    await insertAlert(t.db, {
      alert_id: alertId, sender: user, severity: 'critical', title: 'T', body: 'B', drill: false, state: 'active', audience: [user],
      escalation: [{ after_s: 0, channels: ['sms'] }, { after_s: 60, channels: ['sms'] }], rollcall: null, room_id: null, event_id: null,
      created_ts: now, expires_ts: now + 3_600_000, closed_ts: null,
    });
    await insertRecipients(t.db, [{ alert_id: alertId, user_id: user, reply_code: '1234', acknowledged_ts: null, ack_channel: null, rollcall_answer: null }]);
    await insertDeliveries(t.db, [0, 1].map((step) => ({ alert_id: alertId, user_id: user, step, channel: 'sms', state: 'sending' as const, due_ts: now })), now);
    const [longRow, shortRow] = await t.db('alert_deliveries').where({ alert_id: alertId }).orderBy('step');
    const alerts = new AlertService({
      db: t.db, log, serverName: 'localhost', links: new AckLinks(randomBytes(32), 'https://crise.example.org'),
      defaultPlan: [{ after_s: 0, channels: ['sms'] }], systemUsers: new Set(), wakeEngine: () => undefined, changed: () => undefined,
    });
    const events = new AlertChannelEvents(t.db, alerts, log, () => undefined);
    const channel = (): SmppChannel => {
      const c = new SmppChannel({ url: smsc.url(), source: 'TOCSIN', events, maxSegments: 3, bindWaitMs: 3000, messageIds: new SmsMessageIdStore(t.db, log) });
      channels.push(c);
      return c;
    };

    const first = channel();
    const long = await first.send(makeDelivery({ deliveryId: String(longRow.id), alert: { body: 'x'.repeat(300) } }));
    const short = await first.send(makeDelivery({ deliveryId: String(shortRow.id) }));
    // The long one is recorded as the engine does (with the first part's id); the short one
    // was dispatched but its outcome not written yet when the process went down.
    await finishDelivery(t.db, Number(longRow.id), { state: 'sent', external_id: long.externalId!, sent_ts: now }, now);
    const [longSms, shortSms] = await smsc.waitForMessages(2);
    expect(longSms!.parts.length).toBeGreaterThan(1);
    await first.close();

    // A new process: nothing in memory; the receipts name the second part and the short SMS.
    const second = channel();
    expect((await second.health()).ok).toBe(true);
    expect(await smsc.sendReceipt(longSms!.parts[1]!.messageId, 'DELIVRD')).toBe(0);
    expect(await smsc.sendReceipt(shortSms!.parts[0]!.messageId, 'UNDELIV', { tlv: true })).toBe(0);
    const states = async () => (await t.db('alert_deliveries').where({ alert_id: alertId }).orderBy('step')).map((d) => d.state);
    await expect.poll(states, { timeout: 10_000 }).toEqual(['delivered', 'failed']);
    expect(short.externalId).toBe(shortSms!.parts[0]!.messageId);
  });
});
