import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { EdgeLink, type EdgeCounters } from '../../support/edge-link.ts';
import { EdgePhone, type FeedFrame } from '../../support/edge-phone.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

// A manager's phone on an emulated EDGE link (80 kbit/s down, 40 kbit/s up, 250 ms each way,
// a stall now and then) follows the alert feed; the alert sender is on the office network.
// These tests assert only that things happen; the times and bytes are logged (the benchmark,
// bench/edge-ack.ts, measures them).

const V1 = '/_tocsin/v1';

interface Status {
  state: string;
  recipients: Array<{ user_id: string; acknowledged_at: number | null; ack_channel: string | null }>;
}

const spent = (before: EdgeCounters, after: EdgeCounters) => `${after.down - before.down} B down, ${after.up - before.up} B up, ${after.connections - before.connections} new connection(s)`;

function log(line: string): void {
  process.stdout.write(`[edge] ${line}\n`);
}

describe('alerts over an emulated EDGE link', () => {
  let server: TestServer;
  let admin: TestUser;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'edge-chef');
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(closeAllTestServers);

  async function onTheLink(options: { stalls?: { everyMs: number; forMs: number } } = {}) {
    const link = await EdgeLink.start({ target: { port: server.port }, ...options });
    cleanups.push(() => link.close());
    return link;
  }

  function phoneOf(link: EdgeLink, user?: TestUser): EdgePhone {
    const phone = new EdgePhone(link.url, user?.token);
    cleanups.push(() => phone.close());
    return phone;
  }

  const sendAlert = async (to: TestUser, title: string) => {
    const res = await admin.api.post(`${V1}/alerts`, {
      severity: 'critical',
      title,
      body: 'Crue de la Seine : cellule de crise à 14h salle B.',
      audience: [to.userId],
      escalation: [{ after_s: 0, channels: ['matrix'] }],
    });
    expect(res.status).toBe(200);
    return res.body.alert_id as string;
  };

  const recipientOf = async (alertId: string, userId: string) => {
    const res = await admin.api.get<Status>(`${V1}/alerts/${alertId}`);
    expect(res.status).toBe(200);
    return res.body.recipients.find((r) => r.user_id === userId)!;
  };

  it('a phone following the feed receives a critical alert and acknowledges it', async () => {
    const bob = await registerUser(server.url, 'edge-bob');
    const link = await onTheLink({ stalls: { everyMs: 5_000, forMs: 500 } });
    const phone = phoneOf(link, bob);

    const start = await phone.poll(undefined, 0);
    expect(start.alerts).toEqual([]);
    const frames: FeedFrame[] = [];
    const follower = phone.follow(start.next, (f) => frames.push(f));
    cleanups.push(() => follower.stop());

    const before = link.counters();
    const t0 = performance.now();
    const alertId = await sendAlert(bob, 'Inondation');
    const frame = await eventually(async () => frames.find((f) => f.id === alertId), 'the alert through the feed', 600, 50);
    const tFrame = performance.now();
    expect(frame).toMatchObject({ sev: 'critical', title: 'Inondation' });
    expect(frame.ack).toBeUndefined();

    expect(await phone.ack(alertId)).toEqual({ acknowledged: true, first: true });
    const tAck = performance.now();
    const line = await recipientOf(alertId, bob.userId);
    expect(line.acknowledged_at).not.toBeNull();
    expect(line.ack_channel).toBe('app');

    // The phone's own feed tells it the alert is acknowledged (its other devices stop ringing).
    await eventually(async () => frames.find((f) => f.id === alertId && f.ack !== undefined), 'the acknowledgement echoed by the feed', 600, 50);
    const after = link.counters();
    expect(after.down).toBeGreaterThan(before.down);
    expect(after.up).toBeGreaterThan(before.up);
    log(`alert -> frame on the phone ${Math.round(tFrame - t0)} ms, -> ack answered ${Math.round(tAck - t0)} ms; ${spent(before, after)} (frame, ack, ack echo)`);
  });

  it('serves the no-JavaScript page in under 4 KB on the wire, and a form POST acknowledges', async () => {
    const carol = await registerUser(server.url, 'edge-carol');
    const alertId = await sendAlert(carol, 'Évacuation du bâtiment B');
    // The link comes by SMS or email; here it is read from the Matrix notice (off the link).
    const ackUrl = await eventually(async () => {
      const sync = await carol.api.get('/_matrix/client/v3/sync?timeout=0');
      for (const room of Object.values<any>(sync.body.rooms?.join ?? {})) {
        const event = room.timeline.events.find((e: any) => e.content?.['org.tocsin.alert']?.alert_id === alertId);
        if (event) return new URL(event.content['org.tocsin.alert'].ack_url as string);
      }
      return undefined;
    }, 'the alert notice with its link');

    // A phone's browser: no token, asks for gzip, keeps its connection.
    const link = await onTheLink();
    const browser = phoneOf(link);
    const c0 = link.counters();
    const page = await browser.request('GET', ackUrl.pathname, { headers: { accept: 'text/html' } });
    const c1 = link.counters();
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.text).toContain('Évacuation du bâtiment B');
    expect(page.text).toContain('<form method="post"');
    expect(page.text).not.toContain('<script');
    expect(c1.down - c0.down).toBeLessThan(4096);

    const posted = await browser.request('POST', ackUrl.pathname, {
      body: '',
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
    });
    const c2 = link.counters();
    expect(posted.status).toBe(200);
    expect(posted.text).toContain('enregistré');
    // The answer to the form, like the page, is never cached and runs no script.
    for (const answer of [page, posted]) {
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.headers.get('content-security-policy')).toContain("default-src 'none'");
    }
    expect(c2.down - c1.down).toBeLessThan(4096);
    const line = await recipientOf(alertId, carol.userId);
    expect(line.acknowledged_at).not.toBeNull();
    expect(line.ack_channel).toBe('matrix');
    log(`ack page: GET ${spent(c0, c1)}; form POST ${spent(c1, c2)}`);
  });

  it('a phone that loses the link gets every alert it missed once it is back', async () => {
    const dave = await registerUser(server.url, 'edge-dave');
    const link = await onTheLink();
    const phone = phoneOf(link, dave);
    const start = await phone.poll(undefined, 0);
    const frames: FeedFrame[] = [];
    const follower = phone.follow(start.next, (f) => frames.push(f), { retryMs: 200 });
    cleanups.push(() => follower.stop());

    const first = await sendAlert(dave, 'Alerte 1');
    await eventually(async () => frames.find((f) => f.id === first), 'the first alert');
    const c0 = link.counters();

    // The cell is lost: every connection is cut, and no new one gets through for a while.
    link.down = true;
    link.drop();
    const missed = [await sendAlert(dave, 'Alerte 2'), await sendAlert(dave, 'Alerte 3'), await sendAlert(dave, 'Alerte 4')];
    await admin.api.post(`${V1}/alerts/${missed[0]}/close`);
    await eventually(async () => (follower.failures > 0 ? true : undefined), 'the phone noticing the lost link');
    const seenBefore = frames.map((f) => f.id);
    link.down = false;

    await eventually(async () => (missed.every((id) => frames.some((f) => f.id === id)) ? true : undefined), 'every missed alert after reconnecting', 600, 50);
    expect(seenBefore.filter((id) => missed.includes(id))).toEqual([]);
    // The closed one comes with its state, so the phone stops showing it as active.
    expect(frames.some((f) => f.id === missed[0] && f.state === 'closed')).toBe(true);
    const c1 = link.counters();
    expect(c1.connections).toBeGreaterThan(c0.connections);
    log(`reconnect: ${follower.failures} failed poll(s) while the link was down; catch-up ${spent(c0, c1)}`);
  });
});
