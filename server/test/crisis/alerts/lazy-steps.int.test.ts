import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckLinks } from '../../../src/crisis/alerts/ack-links.ts';
import { AlertService } from '../../../src/crisis/alerts/alert-service.ts';
import { EscalationEngine } from '../../../src/crisis/alerts/engine.ts';
import type { ChannelAdapter, ChannelName, Delivery, SendResult } from '../../../src/crisis/channels/channel.ts';
import type { Requester } from '../../../src/http/route.ts';
import { createLogger } from '../../../src/logger.ts';
import { addTestUser, openTestDb, type TestDb } from '../../support/crisis-db.ts';

/** Records every message it is given (one list for the whole test, shared by both "nodes"). */
class RecordingChannel implements ChannelAdapter {
  readonly name: ChannelName;
  readonly sent: string[];

  constructor(name: ChannelName, sent: string[]) {
    this.name = name;
    this.sent = sent;
  }

  async send(delivery: Delivery): Promise<SendResult> {
    this.sent.push(`${this.name}:${delivery.recipient.userId}`);
    return { state: 'sent' };
  }

  async health() {
    return { ok: true };
  }

  async close(): Promise<void> {}
}

interface StatusLine {
  user_id: string;
  acknowledged_at: number | null;
  deliveries: Array<{ channel: string; step: number; state: string }>;
}

const USERS = 40;
const ACKERS = 5;

// A later step's rows are written when the step falls due, only for those still unacknowledged
// (storage/alert-steps.ts); until then the status shows it as planned. Two engines on one
// database, as two nodes, take the due step at the same time: it is written and sent once.
describe('later alert steps written when they fall due', () => {
  let t: TestDb;
  const engines: EscalationEngine[] = [];

  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    for (const e of engines) await e.stop();
    await t.close();
  });

  it('writes only the first step at creation, then the next one for the unacknowledged, once', async () => {
    const users = Array.from({ length: USERS }, (_, i) => `@lazy${i}:localhost`);
    for (const u of users) await addTestUser(t.db, u);
    await addTestUser(t.db, '@sender:localhost');
    const log = createLogger('silent');
    const links = new AckLinks(randomBytes(32), 'https://crise.example.org');
    const alerts = new AlertService({
      db: t.db, log, serverName: 'localhost', links, defaultPlan: [{ after_s: 0, channels: ['sms'] }], systemUsers: new Set(),
      wakeEngine: () => undefined, changed: () => undefined,
    });
    const sender: Requester = { userId: '@sender:localhost', deviceId: 'D', isAdmin: true, tokenHash: 'x' };
    const { alert_id: alertId } = await alerts.create(sender, {
      severity: 'critical', title: 'Crue', body: 'Montez aux étages.', audience: users,
      escalation: [
        { after_s: 0, channels: ['sms'] },
        { after_s: 3600, channels: ['email', 'sms'] },
      ],
    });

    // The answer came before any delivery row: the engine writes them.
    const rows = async () => t.db('alert_deliveries').where({ alert_id: alertId }).select('user_id', 'step', 'channel', 'state');
    expect(await rows()).toEqual([]);

    const ackers = users.slice(0, ACKERS);
    for (const u of ackers) expect(await alerts.acknowledge(alertId, u, 'app')).toBe(true);

    // The status shows the plan: pending for those who have not acknowledged, cancelled for the others.
    const lines = async () => (await alerts.status(sender, alertId)).recipients as StatusLine[];
    const stepOf = (line: StatusLine, step: number) => line.deliveries.filter((d) => d.step === step).map((d) => `${d.channel}:${d.state}`);
    const laterOf = (line: StatusLine) => stepOf(line, 1);
    for (const line of await lines()) {
      const acked = ackers.includes(line.user_id);
      expect(stepOf(line, 0), line.user_id).toEqual(acked ? ['sms:cancelled'] : ['sms:pending']);
      expect(laterOf(line), line.user_id).toEqual(acked ? ['email:cancelled', 'sms:cancelled'] : ['email:pending', 'sms:pending']);
    }

    // Time passes: the step falls due, and two nodes take both steps at once.
    await t.db('alert_steps').where({ alert_id: alertId, step: 1 }).update({ due_ts: Date.now() - 1 });
    const sent: string[] = [];
    const engine = () => {
      const e = new EscalationEngine({
        db: t.db, log, links, changed: () => undefined,
        adapters: new Map<string, ChannelAdapter>([['sms', new RecordingChannel('sms', sent)], ['email', new RecordingChannel('email', sent)]]),
      });
      engines.push(e);
      return e;
    };
    const [a, b] = [engine(), engine()];
    for (let round = 0; round < 5; round++) await Promise.all([a.runOnce(), b.runOnce()]);

    expect((await rows()).filter((r) => r.step === 0).map((r) => r.user_id).sort()).toEqual(users.filter((u) => !ackers.includes(u)).sort());
    const later = (await rows()).filter((r) => r.step === 1);
    expect(later).toHaveLength((USERS - ACKERS) * 2);
    expect(later.filter((r) => ackers.includes(r.user_id))).toEqual([]);
    expect(new Set(later.map((r) => `${r.channel}:${r.user_id}`)).size).toBe(later.length);
    expect(later.every((r) => r.state === 'sent')).toBe(true);
    // Each step to each person once; those who acknowledged at once got neither step.
    const count = (what: string) => sent.filter((s) => s === what).length;
    for (const u of users) {
      expect(count(`email:${u}`), u).toBe(ackers.includes(u) ? 0 : 1);
      expect(count(`sms:${u}`), u).toBe(ackers.includes(u) ? 0 : 2);
    }
    expect((await t.db('alert_steps').where({ alert_id: alertId }).orderBy('step')).map((s) => s.state)).toEqual(['expanded', 'expanded']);
    for (const line of await lines()) {
      expect(laterOf(line), line.user_id).toEqual(ackers.includes(line.user_id) ? ['email:cancelled', 'sms:cancelled'] : ['email:sent', 'sms:sent']);
    }
  });

  it('writes nothing more for a cancelled alert, and shows its later steps cancelled', async () => {
    const users = ['@cancel1:localhost', '@cancel2:localhost'];
    for (const u of users) await addTestUser(t.db, u);
    const log = createLogger('silent');
    const links = new AckLinks(randomBytes(32), 'https://crise.example.org');
    const alerts = new AlertService({
      db: t.db, log, serverName: 'localhost', links, defaultPlan: [{ after_s: 0, channels: ['sms'] }], systemUsers: new Set(),
      wakeEngine: () => undefined, changed: () => undefined,
    });
    const sender: Requester = { userId: '@sender:localhost', deviceId: 'D', isAdmin: true, tokenHash: 'x' };
    const { alert_id: alertId } = await alerts.create(sender, {
      severity: 'warning', title: 'Exercice', body: 'Test.', audience: users,
      escalation: [
        { after_s: 0, channels: ['sms'] },
        { after_s: 60, channels: ['email'] },
      ],
    });
    await alerts.finish(sender, alertId, 'cancelled');
    await t.db('alert_steps').where({ alert_id: alertId }).update({ due_ts: Date.now() - 1 });
    const sent: string[] = [];
    const engine = new EscalationEngine({ db: t.db, log, links, changed: () => undefined, adapters: new Map([['email', new RecordingChannel('email', sent)]]) });
    engines.push(engine);
    await engine.runOnce();
    expect(sent).toEqual([]);
    expect(await t.db('alert_deliveries').where({ alert_id: alertId })).toEqual([]);
    const status = await alerts.status(sender, alertId);
    for (const line of status.recipients as StatusLine[]) {
      expect(line.deliveries.map((d) => `${d.step}:${d.channel}:${d.state}`)).toEqual(['0:sms:cancelled', '1:email:cancelled']);
      expect(line.deliveries).toHaveLength(2);
    }
  });
});
