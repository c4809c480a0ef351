import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCREENSHOTS, ensureClientBuilt, launchChromium } from '../support/browser.ts';
import { enc, eventually, registerAdmin, registerUser, type TestUser } from '../support/client.ts';
import { closeAllTestServers, startTestServer, testDatabaseKind, type TestServer } from '../support/server.ts';

// End to end in Chromium: the log book of a crisis room, low-bandwidth mode, and the console's
// audience picker. Embedded database only, like pwa.int.test.ts (Chromium is the costly part).

const V1 = '/_tocsin/v1';
const C = '/_matrix/client/v3';
const MOBILE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

async function logIn(page: Page, user: string, password: string): Promise<void> {
  await page.locator('#user').fill(user);
  await page.locator('#password').fill(password);
  await page.locator('form button[type=submit]').click();
  await page.locator('#inbox-title').waitFor();
}

/** What the service worker has cached, seen from the page. */
function cachedPaths(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const out: string[] = [];
    for (const name of await caches.keys()) for (const req of await (await caches.open(name)).keys()) out.push(new URL(req.url).pathname);
    return out;
  });
}

describe.skipIf(testDatabaseKind() !== 'pglite')('the log book, low-bandwidth mode and the audience picker in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let admin: TestUser;
  let bob: TestUser;
  let room: string;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    ensureClientBuilt();
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'lbe-admin');
    bob = await registerUser(server.url, 'lbe-bob');
    room = (await admin.api.post(`${C}/createRoom`, { preset: 'public_chat', name: 'Cellule de crise' })).body.room_id;
    expect((await bob.api.post(`${C}/rooms/${enc(room)}/join`, {})).status).toBe(200);
    expect((await admin.api.put(`${V1}/admin/groups/cellule-crise`, { display_name: 'Cellule de crise', members: [bob.userId] })).status).toBe(200);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: MOBILE, locale: 'fr-FR', timezoneId: 'Europe/Paris', reducedMotion: 'reduce' });
    page = await context.newPage();
    await page.goto(server.url);
    await logIn(page, 'lbe-admin', 'admin password');
  });

  afterAll(async () => {
    await browser?.close();
    await closeAllTestServers();
  });

  it('adds two entries, filters them and exports CSV', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/#/rooms/${enc(room)}/logbook`);
    await page.locator('#logbook-title', { hasText: 'Cellule de crise' }).waitFor();
    await page.locator('.empty').waitFor();

    await page.locator('#lb-text').fill('Cellule de crise activée en salle 2');
    await page.locator('#lb-tag').fill('Décision');
    await page.locator('.lb-add button[type=submit]').click();
    await page.locator('ol.lb-entries li', { hasText: 'Cellule de crise activée' }).waitFor();

    // The second happened at 09:15 (Paris), recorded now; and a formula typed by mistake.
    await page.locator('#lb-text').fill('=Appel du préfet: "renforts", 2 équipes');
    await page.locator('#lb-tag').fill('message');
    await page.locator('#lb-occurred').fill('2026-11-25T09:15');
    await page.locator('.lb-add button[type=submit]').click();
    await page.locator('ol.lb-entries li', { hasText: 'Appel du préfet' }).waitFor();
    await expect.poll(() => page.locator('[data-testid=lb-count]').textContent()).toBe('2 entrées');
    expect(await page.locator('.lb-entries.pending').count()).toBe(0);
    // The entries are Matrix events in the room: another client reads them with /messages.
    const messages = await bob.api.get(`${C}/rooms/${enc(room)}/messages?dir=b&limit=20`);
    const entries = messages.body.chunk.filter((e: { content: { msgtype?: string } }) => e.content.msgtype === 'org.tocsin.logbook.entry');
    expect(entries.length).toBe(2);
    expect(entries.map((e: { sender: string }) => e.sender)).toEqual([admin.userId, admin.userId]);
    expect(entries[0].content.body).toContain('Appel du préfet');
    expect(entries[0].content['org.tocsin.logbook']).toMatchObject({ tag: 'message', occurred_at: Date.UTC(2026, 10, 25, 8, 15) });
    await shot(page, 'logbook-390x844');
    await page.locator('[data-testid=lb-count]').scrollIntoViewIfNeeded();
    await shot(page, 'logbook-list-390x844');

    // Filters: by tag, then by text, then all again.
    await page.locator('.lb-filters summary').click();
    await page.locator('#lb-f-tag').fill('décision');
    await page.locator('.lb-filters button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=lb-count]').textContent()).toBe('1 entrée');
    expect(await page.locator('ol.lb-entries li').textContent()).toContain('salle 2');
    await page.locator('#lb-f-tag').fill('');
    await page.locator('#lb-f-q').fill('PRÉFET');
    await page.locator('.lb-filters button[type=submit]').click();
    await expect.poll(() => page.locator('ol.lb-entries li').first().textContent()).toContain('Appel du préfet');
    expect(await page.locator('ol.lb-entries li').count()).toBe(1);
    await page.locator('#lb-f-q').fill('');
    await page.locator('#lb-f-author').fill(admin.userId);
    await page.locator('#lb-f-from').fill('2026-11-25T09:00');
    await page.locator('#lb-f-to').fill('2026-11-25T09:30');
    await page.locator('.lb-filters button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=lb-count]').textContent()).toBe('1 entrée');
    await page.locator('.lb-filters button.link').click();
    await expect.poll(() => page.locator('[data-testid=lb-count]').textContent()).toBe('2 entrées');

    // CSV export: a download made with the token, read as a spreadsheet would.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('.lb-export button').first().click()]);
    expect(download.suggestedFilename()).toMatch(/^logbook-.*\.csv$/);
    const csv = readFileSync((await download.path())!, 'utf8');
    const lines = csv.replace(/^\uFEFF/, '').trimEnd().split('\r\n');
    expect(lines[0]).toBe('Heure,Enregistré à,Auteur,Nom,Catégorie,Texte,Événement');
    expect(lines.length).toBe(3);
    // In order of occurrence, Paris time, the formula neutralised and the quotes doubled.
    expect(lines[1]).toMatch(/^2026-11-25T09:15:00\+01:00,/);
    expect(lines[1]).toContain(`,message,"'=Appel du préfet: ""renforts"", 2 équipes",`);
    expect(lines[2]).toContain(',décision,Cellule de crise activée en salle 2,');

    const [html] = await Promise.all([page.waitForEvent('download'), page.locator('.lb-export button').nth(1).click()]);
    const page2 = readFileSync((await html.path())!, 'utf8');
    expect(page2).toContain('<h1>Main courante · Cellule de crise</h1>');
    expect(page2).toContain(`par ${admin.userId}`);

    await page.setViewportSize(DESKTOP);
    await page.evaluate(() => scrollTo(0, 0));
    await shot(page, 'logbook-1280x800');
    await page.setViewportSize(MOBILE);
    expect(errors).toEqual([]);
  });

  it('keeps an entry typed offline and sends it once when the link returns', async () => {
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 20_000 });
    await context.setOffline(true);
    try {
      await page.locator('#lb-text').fill('Entrée saisie sans réseau');
      await page.locator('.lb-add button[type=submit]').click();
      await page.locator('.lb-entries.pending li', { hasText: 'sans réseau' }).waitFor();
    } finally {
      await context.setOffline(false);
    }
    await page.locator('ol.lb-entries li', { hasText: 'sans réseau' }).waitFor({ timeout: 20_000 });
    expect(await page.locator('.lb-entries.pending').count()).toBe(0);
    const book = await bob.api.get(`${V1}/rooms/${enc(room)}/logbook?q=sans%20r%C3%A9seau`);
    expect(book.body.total).toBe(1);
  });

  it('low-bandwidth mode: the toggle, kept on the device, and automatic on 2G without fetching the lazy chunks ahead', async () => {
    // A normal link: the worker fetches the lazy chunks ahead of use.
    await eventually(async () => ((await cachedPaths(page)).some((p) => p.includes('/assets/console-')) ? true : undefined), 'lazy chunks precached');
    const toggle = page.locator('button.bandwidth');
    expect(await toggle.getAttribute('aria-pressed')).toBe('false');
    await toggle.click();
    expect(await toggle.getAttribute('aria-pressed')).toBe('true');
    expect(await page.evaluate(() => [document.documentElement.dataset.bandwidth, localStorage.getItem('tocsin.bandwidth')])).toEqual(['low', 'low']);
    await page.reload();
    await page.locator('#logbook-title').waitFor();
    expect(await page.locator('button.bandwidth').getAttribute('aria-pressed')).toBe('true');
    await page.locator('button.bandwidth').click();
    expect(await page.evaluate(() => [document.documentElement.dataset.bandwidth, localStorage.getItem('tocsin.bandwidth')])).toEqual(['normal', null]);

    // A phone on 2G: detected, and nothing but the shell fetched.
    const slow = await browser.newContext({ viewport: MOBILE, locale: 'en-GB' });
    await slow.addInitScript(() => {
      const conn = Object.assign(new EventTarget(), { effectiveType: '2g', saveData: false });
      Object.defineProperty(Navigator.prototype, 'connection', { get: () => conn });
    });
    const phone = await slow.newPage();
    const fetched: string[] = [];
    slow.on('request', (r) => fetched.push(new URL(r.url()).pathname));
    await phone.goto(server.url);
    await logIn(phone, 'lbe-bob', bob.password);
    await phone.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 20_000 });
    const button = phone.locator('button.bandwidth');
    expect(await button.getAttribute('aria-pressed')).toBe('true');
    expect(await button.textContent()).toContain('(auto)');
    expect(await phone.evaluate(() => document.documentElement.dataset.bandwidth)).toBe('low');
    await shot(phone, 'low-bandwidth-390x844');
    // The shell is cached; the console and log book chunks are not fetched until opened.
    const cached = await cachedPaths(phone);
    expect(cached.some((p) => /\/assets\/index-.*\.js$/.test(p))).toBe(true);
    expect(cached.filter((p) => /\/assets\/(console|logbook)-/.test(p))).toEqual([]);
    expect(fetched.filter((p) => /\/assets\/(console|logbook)-/.test(p))).toEqual([]);
    // Opened once, the log book's chunk is kept for offline use.
    await phone.goto(`${server.url}/#/rooms/${enc(room)}/logbook`);
    await phone.locator('#logbook-title', { hasText: 'Cellule de crise' }).waitFor();
    await eventually(async () => ((await cachedPaths(phone)).some((p) => p.includes('/assets/logbook-')) ? true : undefined), 'log book chunk kept');
    expect((await cachedPaths(phone)).some((p) => p.includes('/assets/console-'))).toBe(false);

    // A room where Bob may read but not write: his entry is refused, shown with the reason, and can be discarded.
    const readOnly = (await admin.api.post(`${C}/createRoom`, { preset: 'public_chat', name: 'Lecture seule', power_level_content_override: { events_default: 50 } })).body.room_id;
    expect((await bob.api.post(`${C}/rooms/${enc(readOnly)}/join`, {})).status).toBe(200);
    await phone.goto(`${server.url}/#/rooms/${enc(readOnly)}/logbook`);
    await phone.locator('#logbook-title', { hasText: 'Lecture seule' }).waitFor();
    await phone.locator('#lb-text').fill('Not allowed here');
    await phone.locator('.lb-add button[type=submit]').click();
    const refused = phone.locator('.lb-entries.pending li', { hasText: 'Not allowed here' });
    await refused.locator('.error').waitFor();
    await refused.getByRole('button', { name: 'Discard this entry' }).click();
    await refused.waitFor({ state: 'detached' });
    // The button went with the entry: focus is back in the form, not at the top of the page.
    expect(await phone.evaluate(() => document.activeElement?.id)).toBe('lb-text');
    expect(await phone.evaluate(() => localStorage.getItem('tocsin.logbook.outbox'))).toBe('[]');
    await slow.close();
  });

  it('the console picks a group by search and sends to its members', async () => {
    await page.setViewportSize(DESKTOP);
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${server.url}/#/console`);
    await page.locator('#compose-title').waitFor();
    await page.locator('#audience-entry').fill('cellule');
    const option = page.locator('[role=option][data-id="group:cellule-crise"]');
    await option.waitFor();
    // The admin's room of the same name is offered too.
    await page.locator(`[role=option][data-id="${room}"]`).waitFor();
    await shot(page, 'console-picker-1280x800');
    await page.locator('#audience-entry').press('ArrowDown');
    expect(await option.getAttribute('aria-selected')).toBe('true');
    await page.locator('#audience-entry').press('Enter');
    await page.locator('.chips li[data-id="group:cellule-crise"]').waitFor();
    await expect.poll(() => page.locator('[data-testid=audience-count]').textContent()).toBe('Atteint 1 personne');
    await page.locator('#alert-title').fill('Point de situation');
    await page.locator('#alert-body').fill('Réunion de la cellule à 10 h.');
    await page.setViewportSize(MOBILE);
    await shot(page, 'console-picker-390x844');
    await page.locator('button.send').click();
    await page.locator('#board-title').waitFor();
    const alertId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]!);
    const status = await admin.api.get(`${V1}/alerts/${alertId}`);
    expect(status.body.recipients.map((r: { user_id: string }) => r.user_id)).toEqual([bob.userId]);
    // The board shows where each pending person stands in the escalation.
    await page.locator(`.people.pending li[data-user="${bob.userId}"]`).waitFor();
    expect(await page.locator(`.people.pending li[data-user="${bob.userId}"] .how`).textContent()).toMatch(/étape 1|→/);
  });
});
