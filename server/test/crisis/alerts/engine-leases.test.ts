import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckLinks } from '../../../src/crisis/alerts/ack-links.ts';
import { EscalationEngine } from '../../../src/crisis/alerts/engine.ts';
import type { ChannelAdapter, Delivery, SendResult } from '../../../src/crisis/channels/channel.ts';
import { createLogger } from '../../../src/logger.ts';
import { insertDeliveries } from '../../../src/storage/alert-deliveries.ts';
import { insertAlert, insertRecipients } from '../../../src/storage/alerts.ts';
import { addTestUser, openTestDb, type TestDb } from '../../support/crisis-db.ts';

/** A channel that takes its time, records what it is given, and says which sends overlapped. */
class SlowChannel implements ChannelAdapter {
  readonly name = 'sms' as const;
  readonly sent: string[] = [];
  prepared = 0;
  #release: (() => void) | undefined;
  readonly #gate: Promise<void>;

  constructor() {
    this.#gate = new Promise((resolve) => (this.#release = resolve));
  }

  open(): void {
    this.#release!();
  }

  prepare(deliveries: readonly Delivery[]): void {
    this.prepared += deliveries.length;
  }

  async send(delivery: Delivery): Promise<SendResult> {
    await this.#gate;
    this.sent.push(delivery.deliveryId);
    return { state: 'sent', externalId: `ext-${delivery.deliveryId}` };
  }

  async health() {
    return { ok: true };
  }

  async close(): Promise<void> {}
}

const USERS = 30;
const LEASE_MS = 300;

// Two engines on one database, as two nodes: while the first dispatches a batch slower than its
// lease, it renews the lease, so the second never takes those steps over and nothing goes twice.
// Outcomes are recorded in batches: every step ends 'sent' with its transport id.
describe('escalation engine leases and outcomes', () => {
  let t: TestDb;
  const engines: EscalationEngine[] = [];
  const channels: SlowChannel[] = [];

  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    for (const c of channels) c.open();
    for (const e of engines) await e.stop();
    await t.close();
  });

  it('renews the leases of a slow batch, and records every outcome once', async () => {
    const users = Array.from({ length: USERS }, (_, i) => `@lease${i}:localhost`);
    for (const u of users) await addTestUser(t.db, u);
    const now = Date.now();
    const alertId = 'al_leases';
    await insertAlert(t.db, {
      alert_id: alertId, sender: users[0]!, severity: 'critical', title: 'T', body: 'B', drill: false, state: 'active', audience: users,
      escalation: [{ after_s: 0, channels: ['sms'] }], rollcall: null, room_id: null, event_id: null, created_ts: now, expires_ts: now + 3_600_000, closed_ts: null,
    });
    await insertRecipients(t.db, users.map((user_id) => ({ alert_id: alertId, user_id, reply_code: '1234', acknowledged_ts: null, ack_channel: null, rollcall_answer: null })));
    await insertDeliveries(t.db, users.map((user_id) => ({ alert_id: alertId, user_id, step: 0, channel: 'sms', state: 'pending', due_ts: now })), now);

    const log = createLogger('silent');
    const links = new AckLinks(randomBytes(32), 'https://crise.example.org');
    const slow = new SlowChannel();
    const other = new SlowChannel();
    channels.push(slow, other);
    other.open();
    const first = new EscalationEngine({ db: t.db, log, adapters: new Map([['sms', slow]]), links, changed: () => undefined, leaseMs: LEASE_MS });
    engines.push(first);
    first.start();
    await expect.poll(() => slow.prepared, { timeout: 10_000 }).toBe(USERS);

    // The second node polls for due work for several leases' time while the first is stuck.
    const second = new EscalationEngine({ db: t.db, log, adapters: new Map([['sms', other]]), links, changed: () => undefined, leaseMs: LEASE_MS });
    engines.push(second);
    const until = Date.now() + LEASE_MS * 5;
    while (Date.now() < until) {
      expect(await second.runOnce()).toBe(0);
      await new Promise((r) => setTimeout(r, LEASE_MS / 3));
    }
    expect(other.sent).toEqual([]);

    slow.open();
    await expect
      .poll(async () => (await t.db('alert_deliveries').where({ alert_id: alertId, state: 'sent' }).count<{ n: number | string }[]>('* as n'))[0]!.n, { timeout: 10_000 })
      .toEqual(expect.toSatisfy((n: number | string) => Number(n) === USERS));
    const final = await t.db('alert_deliveries').where({ alert_id: alertId }).select('id', 'state', 'external_id', 'sent_ts', 'lease_until');
    expect(final).toHaveLength(USERS);
    for (const d of final) {
      expect(d.external_id).toBe(`ext-${d.id}`);
      expect(d.sent_ts).not.toBeNull();
      expect(d.lease_until).toBeNull();
    }
    expect(new Set(slow.sent).size).toBe(USERS);
    expect(slow.sent).toHaveLength(USERS);
    expect(other.sent).toEqual([]);
  });
});
