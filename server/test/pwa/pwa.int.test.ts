import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_DIST, SCREENSHOTS, ensureClientBuilt, launchChromium } from '../support/browser.ts';
import { enc, eventually, registerAdmin, registerUser, type TestUser } from '../support/client.ts';
import { closeAllTestServers, startTestServer, testDatabaseKind, type TestServer } from '../support/server.ts';
import { WebPushReceiver, type FakeBrowser } from '../support/webpush-receiver.ts';

// End to end: the built PWA in Debian's Chromium against a real server. The client does not
// depend on the database, so this runs on the embedded one only (Chromium is the costly part).

const V1 = '/_tocsin/v1';
const MOBILE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

/** What the tests use of the service worker's global scope (the server's types have no DOM). */
interface SwScope {
  registration: {
    getNotifications(filter?: { tag?: string }): Promise<{ title: string; tag: string; actions: { action: string }[]; vibrate: number[]; requireInteraction: boolean; data: unknown }[]>;
  };
  tocsinAcknowledge(payload: unknown): Promise<boolean>;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

async function logIn(page: Page, user: string, password: string): Promise<void> {
  await page.locator('#user').fill(user);
  await page.locator('#password').fill(password);
  await page.locator('form button[type=submit]').click();
}

describe.skipIf(testDatabaseKind() !== 'pglite')('the PWA in Chromium', () => {
  let server: TestServer;
  let push: WebPushReceiver;
  let browser: Browser;
  let admin: TestUser;
  let alice: TestUser;
  let aliceContext: BrowserContext;
  let alicePage: Page;
  let rollcallId: string;

  beforeAll(async () => {
    ensureClientBuilt();
    push = await WebPushReceiver.start();
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-pwa-'));
    const config = path.join(dir, 'tocsin.yaml');
    writeFileSync(config, ['channels:', '  webpush: { subject: "mailto:dsi@example.org" }', 'outbound_allow_ranges: ["127.0.0.0/8"]'].join('\n'));
    server = await startTestServer({ TOCSIN_CONFIG: config });
    admin = await registerAdmin(server.url, 'pwa-admin');
    alice = await registerUser(server.url, 'pwa-alice');
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await closeAllTestServers();
    await push?.close();
  });

  it('serves the app with long cache for hashed assets, no-cache for the rest, and a strict CSP', async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe');
    const html = await index.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${server.url}${asset}`);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    for (const p of ['/sw.js', '/manifest.webmanifest']) {
      const r = await fetch(`${server.url}${p}`);
      expect(r.status, p).toBe(200);
      expect(r.headers.get('cache-control'), p).toBe('no-cache');
    }
    const manifest = await (await fetch(`${server.url}/manifest.webmanifest`)).json();
    expect(manifest.icons.map((i: { sizes: string }) => i.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));
    // The API keeps its own answers; files never shadow it; the build report is not served.
    for (const p of ['/_matrix/client/v3/nowhere', '/_tocsin/v1/nowhere', '/nowhere.js', '/.vite/shell-size.json', '/assets/..%2f..%2fpackage.json', '/%2e%2e/package.json']) {
      const r = await fetch(`${server.url}${p}`);
      expect(r.status, p).toBe(404);
      expect((await r.json()).errcode, p).toBe('M_UNRECOGNIZED');
    }
    const post = await fetch(`${server.url}/`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(404);
  });

  it('keeps the first screen under its size budget', () => {
    const report = JSON.parse(readFileSync(path.join(CLIENT_DIST, '.vite/shell-size.json'), 'utf8'));
    console.log(`shell (JS+CSS, gzip): ${report.shell_gzip_bytes} bytes of ${report.budget_bytes}; lazy chunks: ${JSON.stringify(report.lazy)}`);
    expect(report.shell_gzip_bytes).toBeLessThanOrEqual(60 * 1024);
    expect(Object.keys(report.lazy).some((f) => f.includes('console'))).toBe(true);
  });

  it('logs in, receives a critical alert live and acknowledges it with one tap', async () => {
    aliceContext = await browser.newContext({ viewport: MOBILE, locale: 'fr-FR' });
    alicePage = await aliceContext.newPage();
    const errors: string[] = [];
    alicePage.on('pageerror', (e) => errors.push(e.message));
    alicePage.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/.test(m.text())) errors.push(m.text());
    });
    const shellBytes: number[] = [];
    alicePage.on('requestfinished', (req) => {
      if (/\/assets\/.*\.(js|css)$/.test(req.url())) void req.sizes().then((s) => shellBytes.push(s.responseBodySize));
    });
    await alicePage.goto(server.url);
    await alicePage.locator('#user').waitFor();
    expect(await alicePage.locator('html').getAttribute('lang')).toBe('fr');

    await logIn(alicePage, 'pwa-alice', 'wrong password');
    await alicePage.locator('#login-error').waitFor();
    expect(await alicePage.locator('#login-error').textContent()).toBe('Identifiant ou mot de passe incorrect.');
    await logIn(alicePage, 'pwa-alice', alice.password);
    await alicePage.locator('#inbox-title').waitFor();
    expect(await alicePage.locator('#inbox-title').textContent()).toBe('Alertes');
    const wire = shellBytes.reduce((a, b) => a + b, 0);
    console.log(`first load, shell JS+CSS on the wire: ${wire} bytes`);
    expect(wire).toBeGreaterThan(0);
    expect(wire).toBeLessThanOrEqual(60 * 1024);

    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'critical',
      title: 'Incendie bâtiment C',
      body: 'Évacuez le bâtiment C par les escaliers nord. Rassemblement sur le parking.',
      audience: [alice.userId],
      escalation: [{ after_s: 0, channels: ['matrix'] }],
    });
    expect(created.status).toBe(200);
    const alertId = created.body.alert_id as string;
    const card = alicePage.locator(`[data-alert="${alertId}"]`);
    await card.waitFor({ timeout: 20_000 });
    expect(await card.locator('.tag.sev-critical').textContent()).toBe('Critique');
    await shot(alicePage, 'inbox-390x844');

    await card.getByRole('button', { name: /Accuser réception/ }).click();
    await card.locator('.status.acked').waitFor();
    const status = await admin.api.get(`${V1}/alerts/${alertId}`);
    expect(status.body.recipients[0].ack_channel).toBe('app');
    expect(status.body.recipients[0].acknowledged_at).toBeTypeOf('number');

    await alicePage.goto(`${server.url}/#/alert/${enc(alertId)}`);
    await alicePage.locator('#alert-title').waitFor();
    await shot(alicePage, 'alert-390x844');
    await alicePage.setViewportSize(DESKTOP);
    await shot(alicePage, 'alert-1280x800');
    await alicePage.goto(`${server.url}/#/`);
    await card.waitFor();
    await shot(alicePage, 'inbox-1280x800');
    await alicePage.setViewportSize(MOBILE);
    expect(errors).toEqual([]);
  });

  it('answers a roll call with one of its answers', async () => {
    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'warning',
      title: 'Appel',
      body: 'Êtes-vous en sécurité ?',
      audience: [alice.userId],
      escalation: [{ after_s: 0, channels: ['matrix'] }],
      rollcall: { answers: ['En sécurité', 'Besoin d’aide'] },
    });
    const card = alicePage.locator(`[data-alert="${created.body.alert_id}"]`);
    await card.waitFor({ timeout: 20_000 });
    await card.getByRole('button', { name: 'Besoin d’aide' }).click();
    await card.locator('.status.acked').waitFor();
    const status = await admin.api.get(`${V1}/alerts/${created.body.alert_id}`);
    expect(status.body.recipients[0].rollcall_answer).toBe('Besoin d’aide');
    rollcallId = created.body.alert_id;
  });

  it('shows the shell and the last known alerts offline', async () => {
    await alicePage.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 20_000 });
    await aliceContext.setOffline(true);
    try {
      await alicePage.reload();
      await alicePage.locator('#inbox-title').waitFor();
      await alicePage.locator('.banner.offline').waitFor({ timeout: 20_000 });
      expect(await alicePage.locator('.card').count()).toBeGreaterThanOrEqual(2);
    } finally {
      await aliceContext.setOffline(false);
    }
  });

  it('queues an acknowledgement made offline and sends it once when the link returns', async () => {
    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'critical',
      title: 'Hors ligne',
      body: 'Accusé fait sans réseau.',
      audience: [alice.userId],
      escalation: [{ after_s: 0, channels: ['matrix'] }],
    });
    const alertId = created.body.alert_id as string;
    const card = alicePage.locator(`[data-alert="${alertId}"]`);
    await card.waitFor({ timeout: 20_000 });
    await aliceContext.setOffline(true);
    try {
      await card.getByRole('button', { name: /Accuser réception/ }).click();
      await card.locator('.status.queued').waitFor();
      // Kept across a reload: the outbox is on the device.
      await alicePage.reload();
      await card.locator('.status.queued').waitFor();
      expect((await admin.api.get(`${V1}/alerts/${alertId}`)).body.recipients[0].acknowledged_at).toBeNull();
    } finally {
      await aliceContext.setOffline(false);
    }
    await card.locator('.status.acked').waitFor({ timeout: 40_000 });
    const status = await admin.api.get(`${V1}/alerts/${alertId}`);
    expect(status.body.recipients[0].ack_channel).toBe('app');
    expect(status.body.counts.acknowledged).toBe(1);
  });

  it('shows a push as a notification whose Acknowledge action acknowledges without the app', async () => {
    await aliceContext.grantPermissions(['notifications'], { origin: server.url });
    const vapid = (await alice.api.get(`${V1}/push/vapid`)).body.public_key as string;
    const fake: FakeBrowser = push.newBrowser({ applicationServerKey: vapid });
    expect((await alice.api.post(`${V1}/push/subscriptions`, fake.subscription)).status).toBe(200);
    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'critical',
      title: 'Coupure réseau',
      body: 'Basculez sur le réseau de secours.',
      audience: [alice.userId],
      escalation: [{ after_s: 0, channels: ['webpush'] }],
    });
    const alertId = created.body.alert_id as string;
    const received = await eventually(async () => push.receivedBy(fake)[0], 'the push reaches the push service');

    // The real push event of the worker, through the DevTools protocol (what a push service
    // would trigger), with the payload the server encrypted for the subscription.
    const sw = aliceContext.serviceWorkers()[0] ?? (await aliceContext.waitForEvent('serviceworker'));
    const cdp = await aliceContext.newCDPSession(alicePage);
    const registrationId = new Promise<string>((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: { registrationId: string; isDeleted: boolean }[] }) => {
        const live = e.registrations.find((r) => !r.isDeleted);
        if (live) resolve(live.registrationId);
      });
    });
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: new URL(server.url).origin, registrationId: await registrationId, data: received.payload });

    const shown = await eventually(async () => {
      const n = await sw.evaluate(async (tag) => {
        const [first] = await (globalThis as unknown as SwScope).registration.getNotifications({ tag });
        return first ? { title: first.title, actions: first.actions.map((a) => a.action), vibrate: [...first.vibrate], requireInteraction: first.requireInteraction, data: first.data } : null;
      }, `alert-${alertId}`);
      return n ?? undefined;
    }, 'the notification is shown');
    expect(shown.title).toBe('[CRITIQUE] Coupure réseau');
    expect(shown.actions).toEqual(['ack']);
    expect(shown.requireInteraction).toBe(true);
    expect(shown.vibrate.length).toBeGreaterThan(3);

    // The notification action's own code path: POST the per-delivery link from the worker.
    const ok = await sw.evaluate(async (tag) => {
      const scope = globalThis as unknown as SwScope;
      const [n] = await scope.registration.getNotifications({ tag });
      return scope.tocsinAcknowledge(n!.data);
    }, `alert-${alertId}`);
    expect(ok).toBe(true);
    const status = await admin.api.get(`${V1}/alerts/${alertId}`);
    expect(status.body.recipients[0].ack_channel).toBe('webpush');
    const left = await sw.evaluate(async () => (await (globalThis as unknown as SwScope).registration.getNotifications()).map((n) => n.tag));
    expect(left).toEqual([`acked-${alertId}`]);
    // The inbox learns it from the feed.
    await alicePage.locator(`[data-alert="${alertId}"] .status.acked`).waitFor({ timeout: 20_000 });
  });

  it('the console sends an alert and shows acknowledgements as they arrive', async () => {
    // Reduced motion: the progress bar is drawn at its value at once (no transition in screenshots).
    const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', reducedMotion: 'reduce' });
    const page = await context.newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(server.url);
    await logIn(page, 'pwa-admin', 'admin password');
    await page.locator('#inbox-title').waitFor();
    expect(await page.locator('#inbox-title').textContent()).toBe('Alerts');
    await page.goto(`${server.url}/#/console`);
    await page.locator('#compose-title').waitFor();

    await page.locator('#audience-entry').fill(alice.userId);
    await page.locator('#audience-entry').press('Enter');
    await page.getByRole('radio', { name: 'Critical' }).check();
    await page.locator('#alert-title').fill('Exercise: gas leak');
    await page.locator('#alert-body').fill('Gas leak in building B. Leave by the south exit.');
    expect(await page.locator('#sms-count').textContent()).toMatch(/^1 SMS · GSM 7-bit/);
    await page.locator('#alert-body').fill('Fuite de gaz bâtiment B, sortez par le sud — cœur du site fermé.');
    expect(await page.locator('#sms-count').textContent()).toMatch(/UCS-2/);
    await page.locator('#alert-body').fill('Gas leak in building B. Leave by the south exit.');
    await shot(page, 'console-1280x800');
    await page.setViewportSize(MOBILE);
    await shot(page, 'console-390x844');
    await page.setViewportSize(DESKTOP);

    await page.locator('button.send').click();
    await page.locator('#board-title').waitFor();
    const alertId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]!);
    await expect.poll(() => page.locator('[data-testid=ack-count]').textContent()).toBe('0');
    await page.locator('.live.on').waitFor();

    // Alice acknowledges on her phone; the board shows it without a reload.
    const card = alicePage.locator(`[data-alert="${alertId}"]`);
    await card.waitFor({ timeout: 20_000 });
    await card.getByRole('button', { name: /Accuser réception/ }).click();
    await expect.poll(() => page.locator('[data-testid=ack-count]').textContent(), { timeout: 20_000 }).toBe('1');
    const row = page.locator(`.people.acked li[data-user="${alice.userId}"]`);
    expect(await row.textContent()).toContain('via app');
    await shot(page, 'board-1280x800');
    await page.setViewportSize(MOBILE);
    await shot(page, 'board-390x844');

    // The roll call's results, answer by answer.
    await page.goto(`${server.url}/#/console/${enc(rollcallId)}`);
    await page.locator('table.rollcall').waitFor();
    expect(await page.locator('table.rollcall tr', { hasText: 'Besoin d’aide' }).locator('td').textContent()).toBe('1');
    expect(await page.locator('table.rollcall tr', { hasText: 'En sécurité' }).locator('td').textContent()).toBe('0');
    await page.goto(`${server.url}/#/console/${enc(alertId)}`);
    await page.locator('.live.on').waitFor();

    await page.getByRole('button', { name: 'Close the alert' }).click();
    await expect.poll(async () => (await admin.api.get(`${V1}/alerts/${alertId}`)).body.state).toBe('closed');
    await page.locator('.tag', { hasText: 'Closed' }).waitFor();
    await context.close();
  });

  it('the console tells a user who may not send alerts so', async () => {
    const page = await aliceContext.newPage();
    await page.goto(`${server.url}/#/console`);
    await page.locator('#console-title').waitFor();
    await page.locator('.banner', { hasText: 'Seuls les émetteurs' }).waitFor();
    await page.close();
  });

  it('wipes local data and returns to login when the session is revoked', async () => {
    const token = await alicePage.evaluate(() => JSON.parse(localStorage.getItem('tocsin.session')!).token as string);
    expect((await alice.api.as(token).post('/_matrix/client/v3/logout')).status).toBe(200);
    await alicePage.locator('#login-error', { hasText: 'Session terminée' }).waitFor({ timeout: 40_000 });
    const keys = await alicePage.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tocsin.')));
    expect(keys).toEqual([]);
  });
});
