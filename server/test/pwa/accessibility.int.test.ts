import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureClientBuilt, launchChromium } from '../support/browser.ts';
import { enc, eventually, registerAdmin, registerUser, type TestUser } from '../support/client.ts';
import { closeAllTestServers, startTestServer, testDatabaseKind, type TestServer } from '../support/server.ts';

// Accessibility of every screen of the PWA, checked by axe-core (WCAG 2.1 A and AA rules,
// colour contrast included) in Chromium at a phone's and a laptop's size, in French and English;
// and the keyboard paths of the rooms, the log book and the inbox (Tab, Enter, Space only).
// Embedded database only, like the other PWA tests (Chromium is the costly part).

const V1 = '/_tocsin/v1';
const C = '/_matrix/client/v3';
const SIZES = [
  { width: 390, height: 844 },
  { width: 1280, height: 800 },
];
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeResult {
  violations: { id: string; impact: string | null; nodes: { target: string[]; failureSummary?: string }[] }[];
}

/** The violations axe finds on the page as it is now, one line per element. */
async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE_SOURCE });
  const result = await page.evaluate(
    () =>
      (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<unknown> } }).axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
        resultTypes: ['violations'],
      }) as Promise<AxeResult>,
  );
  return result.violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}) ${n.target.join(' ')}: ${(n.failureSummary ?? '').replace(/\s+/g, ' ').slice(0, 200)}`));
}

/**
 * Presses Tab until the focused element matches `selector`; returns what focus went through.
 * Each stop must show where focus is: an outline (the element's, or its wrapper's for the
 * hidden file input) of at least 3:1 against what surrounds it (WCAG 1.4.11, 2.4.7).
 */
async function tabTo(page: Page, selector: string, max = 60): Promise<string[]> {
  const path: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const here = await page.evaluate((sel) => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return { hit: false, what: 'body', ring: 'none', contrast: 0 };
      const what = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ').join('.')}` : ''}`;
      const ringOf = [el, el.parentElement].find((x) => x && getComputedStyle(x).outlineStyle !== 'none');
      if (!ringOf) return { hit: el.matches(sel), what, ring: 'none', contrast: 0 };
      const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
      const lum = (c: number[]) => {
        const [r, g, b] = c.slice(0, 3).map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
        return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
      };
      // The ring is drawn outside the element (outline-offset): against its parent's background.
      let bg = [255, 255, 255];
      for (let x = ringOf.parentElement; x; x = x.parentElement) {
        const c = rgb(getComputedStyle(x).backgroundColor);
        if (c.length === 3 || (c[3] ?? 0) > 0) {
          bg = c;
          break;
        }
      }
      const ring = getComputedStyle(ringOf).outlineColor;
      const [a, b] = [lum(rgb(ring)), lum(bg)];
      return { hit: el.matches(sel), what, ring, contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
    }, selector);
    path.push(here.what);
    expect(here.contrast, `focus ring of ${here.what}: ${here.ring}`).toBeGreaterThanOrEqual(3);
    if (here.hit) return path;
  }
  throw new Error(`${selector} not reached by Tab; focus went through ${path.join(' > ')}`);
}

describe.skipIf(testDatabaseKind() !== 'pglite')('accessibility of the PWA (axe-core, keyboard)', () => {
  let server: TestServer;
  let browser: Browser;
  let admin: TestUser;
  let bob: TestUser;
  let room: string;
  let pendingAlert: string;
  let boardAlert: string;

  beforeAll(async () => {
    ensureClientBuilt();
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'a11y-admin');
    bob = await registerUser(server.url, 'a11y-bob');
    room = (await admin.api.post(`${C}/createRoom`, { preset: 'public_chat', name: 'Cellule de crise' })).body.room_id;
    expect((await bob.api.post(`${C}/rooms/${enc(room)}/join`, {})).status).toBe(200);
    expect((await admin.api.put(`${V1}/admin/groups/cellule-crise`, { display_name: 'Cellule de crise', members: [bob.userId] })).status).toBe(200);
    await bob.api.put(`${C}/rooms/${enc(room)}/send/m.room.message/m1`, { msgtype: 'm.text', body: 'Point de situation à 10 h', 'm.mentions': {} });
    await bob.api.put(`${C}/rooms/${enc(room)}/send/m.room.message/m2`, { msgtype: 'm.text', body: `@a11y-admin tu confirmes ?`, 'm.mentions': { user_ids: [admin.userId] } });
    await admin.api.put(`${C}/rooms/${enc(room)}/send/m.room.message/m3`, { msgtype: 'm.text', body: 'Confirmé', 'm.mentions': {} });
    await admin.api.put(`${C}/rooms/${enc(room)}/send/m.room.message/lb1`, {
      msgtype: 'org.tocsin.logbook.entry',
      body: '📒 [décision] Cellule activée',
      'org.tocsin.logbook': { text: 'Cellule activée', tag: 'décision', occurred_at: Date.UTC(2026, 10, 25, 8, 15) },
    });
    // An invitation waiting in the room list.
    const invite = (await bob.api.post(`${C}/createRoom`, { name: 'Astreinte', invite: [admin.userId] })).body.room_id as string;
    expect(invite).toBeTruthy();
    // Alerts of every severity, one of them a roll call and one a drill, so every colour is checked.
    const send = async (body: object) => {
      const r = await admin.api.post(`${V1}/alerts`, { audience: [admin.userId, bob.userId], escalation: [{ after_s: 0, channels: ['matrix'] }], ...body });
      expect(r.status).toBe(200);
      return r.body.alert_id as string;
    };
    await send({ severity: 'info', title: 'Exercice de demain', body: 'Rendez-vous à 9 h.', drill: true });
    boardAlert = await send({ severity: 'warning', title: 'Appel', body: 'Êtes-vous en sécurité ?', rollcall: { answers: ['En sécurité', 'Besoin d’aide'] } });
    pendingAlert = await send({ severity: 'critical', title: 'Incendie bâtiment C', body: 'Évacuez le bâtiment C par les escaliers nord.' });
    expect((await bob.api.post(`${V1}/alerts/${boardAlert}/ack`, { answer: 'En sécurité' })).status).toBe(200);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await closeAllTestServers();
  });

  for (const [locale, timezoneId, shown] of [
    ['fr-FR', 'Europe/Paris', '25/11/2026 09:15'],
    ['en-GB', 'Asia/Tokyo', '25/11/2026, 17:15'],
  ] as const) {
    it(`has no WCAG 2.1 A/AA violation on any screen, ${locale}`, async () => {
      // bypassCSP: the app's policy (rightly) refuses the inline script that brings axe in.
      const context: BrowserContext = await browser.newContext({ viewport: SIZES[0], locale, timezoneId, reducedMotion: 'reduce', bypassCSP: true });
      try {
        const page = await context.newPage();
        const found: string[] = [];
        const check = async (screen: string, ready: () => Promise<unknown>) => {
          for (const size of SIZES) {
            await page.setViewportSize(size);
            await ready();
            found.push(...(await axeViolations(page)).map((v) => `${screen} ${size.width}x${size.height}: ${v}`));
          }
        };
        const go = async (hash: string) => {
          await page.evaluate((h) => (location.hash = h), hash);
        };

        await page.goto(server.url);
        await check('login', () => page.locator('#user').waitFor());
        await page.locator('#user').fill('a11y-admin');
        await page.locator('#password').fill('admin password');
        await page.locator('form button[type=submit]').click();
        await check('inbox', () => page.locator(`[data-alert="${pendingAlert}"]`).waitFor({ timeout: 20_000 }));
        await go(`#/alert/${enc(pendingAlert)}`);
        await check('alert', () => page.locator('#alert-title').waitFor());
        // After a page change focus is on the content, which shows no outline of its own.
        await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('main');
        expect(await page.evaluate(() => getComputedStyle(document.getElementById('main')!).outlineStyle)).toBe('none');
        await go('#/rooms');
        await check('rooms', async () => {
          await page.locator(`.rooms li[data-room="${room}"]`).waitFor({ timeout: 20_000 });
          await page.locator('.invites li', { hasText: 'Astreinte' }).waitFor();
        });
        await go(`#/rooms/${enc(room)}`);
        await check('room', () => page.locator('.timeline li', { hasText: 'Confirmé' }).waitFor());
        await go(`#/rooms/${enc(room)}/logbook`);
        await check('logbook', () => page.locator('ol.lb-entries li', { hasText: 'Cellule activée' }).waitFor());
        // 08:15 UTC, shown in the user's zone.
        expect(await page.locator('ol.lb-entries li', { hasText: 'Cellule activée' }).locator('time').textContent()).toBe(shown);
        await go('#/console');
        await check('console', async () => {
          await page.locator('#compose-title').waitFor();
          // A chosen group as a chip, and the list open again with an option active.
          if ((await page.locator('.chips li[data-id="group:cellule-crise"]').count()) === 0) {
            await page.locator('#audience-entry').fill('cellule');
            await page.locator('[role=option][data-id="group:cellule-crise"]').waitFor();
            await page.locator('#audience-entry').press('ArrowDown');
            await page.locator('#audience-entry').press('Enter');
            await page.locator('.chips li[data-id="group:cellule-crise"]').waitFor();
          }
          await page.locator('#audience-entry').fill('');
          await page.locator('#audience-entry').fill('a11y');
          await page.locator('[role=option]').first().waitFor();
          await page.locator('#audience-entry').press('ArrowDown');
          await page.locator('[role=option][aria-selected=true]').waitFor();
        });
        await expect.poll(() => page.evaluate(() => getComputedStyle(document.getElementById('main')!).outlineStyle)).toBe('none');
        await go(`#/console/${enc(boardAlert)}`);
        await check('board', () => page.locator(`.people.acked li[data-user="${bob.userId}"]`).waitFor());
        expect(found).toEqual([]);
        expect(await page.evaluate(() => [document.activeElement?.id, getComputedStyle(document.getElementById('main')!).outlineStyle])).toEqual(['main', 'none']);
      } finally {
        await context.close();
      }
    });
  }

  it('sends a message and writes a log book entry with the keyboard only', async () => {
    const context = await browser.newContext({ viewport: SIZES[1], locale: 'en-GB', timezoneId: 'America/New_York', reducedMotion: 'reduce' });
    try {
      const page = await context.newPage();
      await page.goto(server.url);
      // Sign in: Tab to the fields, type, Enter.
      await tabTo(page, '#user');
      await page.keyboard.type('a11y-bob');
      await tabTo(page, '#password', 2);
      await page.keyboard.type(bob.password);
      await page.keyboard.press('Enter');
      await page.locator('#inbox-title').waitFor();

      // The skip link comes first and takes focus to the content.
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      await tabTo(page, 'a.skip', 1);
      // Rooms, from the header's navigation.
      const order = await tabTo(page, 'nav a[href="#/rooms"]', 10);
      expect(order).toEqual(['a.brand', 'a', 'a']);
      await page.keyboard.press('Enter');
      const roomLink = `.rooms li[data-room="${room}"] a`;
      await page.locator(roomLink).waitFor({ timeout: 20_000 });
      await tabTo(page, roomLink);
      await page.keyboard.press('Enter');
      await page.locator('#room-title', { hasText: 'Cellule de crise' }).waitFor();
      // In the room: the log book link, the timeline (scrollable by keyboard), then the composer.
      const inRoom = await tabTo(page, '#composer-text');
      const at = (what: string) => inRoom.findIndex((w) => w.startsWith(what));
      expect(at('a.logbook-link')).toBeGreaterThanOrEqual(0);
      expect(at('div.timeline-scroll')).toBeGreaterThan(at('a.logbook-link'));
      expect(at('input')).toBeGreaterThan(at('div.timeline-scroll'));
      await page.keyboard.type('Sent from the keyboard');
      await page.keyboard.press('Enter');
      await page.locator('.timeline li.msg.mine:not(.pending)', { hasText: 'Sent from the keyboard' }).waitFor({ timeout: 20_000 });
      await eventually(async () => {
        const r = await admin.api.get(`${C}/rooms/${enc(room)}/messages?dir=b&limit=5`);
        return r.body.chunk.some((e: { sender: string; content: { body?: string } }) => e.sender === bob.userId && e.content.body === 'Sent from the keyboard') ? true : undefined;
      }, 'message from the keyboard');

      // Shift+Tab back to the log book link, Enter.
      for (let i = 0; i < 20; i++) {
        await page.keyboard.press('Shift+Tab');
        if (await page.evaluate(() => document.activeElement?.classList.contains('logbook-link'))) break;
      }
      await page.keyboard.press('Enter');
      await page.locator('#logbook-title', { hasText: 'Cellule de crise' }).waitFor();
      await tabTo(page, '#lb-text');
      await page.keyboard.type('Keyboard entry');
      await tabTo(page, '#lb-tag', 1);
      await page.keyboard.type('action');
      await tabTo(page, '.lb-add button[type=submit]');
      await page.keyboard.press('Space');
      await page.locator('ol.lb-entries li', { hasText: 'Keyboard entry' }).waitFor({ timeout: 20_000 });
      // Filters open with the keyboard, and the exports are reachable.
      await tabTo(page, '.lb-filters summary');
      await page.keyboard.press('Enter');
      expect(await page.locator('.lb-filters').getAttribute('open')).not.toBeNull();
      await tabTo(page, '#lb-f-tag');
      await page.keyboard.type('action');
      await page.keyboard.press('Enter');
      await expect.poll(() => page.locator('[data-testid=lb-count]').textContent()).toBe('1 entry');
      await tabTo(page, '.lb-export button');
      const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
      expect(download.suggestedFilename()).toMatch(/\.csv$/);
      // Exported in the browser's zone: New York in November is UTC-5.
      const csv = readFileSync((await download.path())!, 'utf8').replace(/^\uFEFF/, '').trimEnd().split('\r\n');
      expect(csv.length).toBe(2);
      expect(csv[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-05:00,.*,action,Keyboard entry,/);
    } finally {
      await context.close();
    }
  });

  it('acknowledges an alert with the keyboard only', async () => {
    const context = await browser.newContext({ viewport: SIZES[0], locale: 'fr-FR', timezoneId: 'Europe/Paris', reducedMotion: 'reduce' });
    try {
      const page = await context.newPage();
      await page.goto(server.url);
      await tabTo(page, '#user');
      await page.keyboard.type('a11y-bob');
      await tabTo(page, '#password', 2);
      await page.keyboard.type(bob.password);
      await page.keyboard.press('Enter');
      const card = page.locator(`[data-alert="${pendingAlert}"]`);
      await card.waitFor({ timeout: 20_000 });
      await tabTo(page, `[data-alert="${pendingAlert}"] button.ack-button`);
      await page.keyboard.press('Enter');
      await card.locator('.status.acked').waitFor();
      const status = await admin.api.get(`${V1}/alerts/${pendingAlert}`);
      expect(status.body.recipients.find((r: { user_id: string }) => r.user_id === bob.userId).ack_channel).toBe('app');
    } finally {
      await context.close();
    }
  });
});
