import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCREENSHOTS, ensureClientBuilt, launchChromium } from '../support/browser.ts';
import { enc, eventually, registerAdmin, registerUser, type TestUser } from '../support/client.ts';
import { closeAllTestServers, startTestServer, testDatabaseKind, type TestServer } from '../support/server.ts';

// End to end: the crisis rooms of the PWA (their own lazy chunk) in Debian's Chromium against
// a real server. Two people chat, page back, see an alert card, and write offline.

const C = '/_matrix/client/v3';
const V1 = '/_tocsin/v1';
const MOBILE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const OLDER = 30;

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

async function logIn(page: Page, url: string, user: TestUser, localpart: string): Promise<void> {
  await page.goto(url);
  await page.locator('#user').fill(localpart);
  await page.locator('#password').fill(user.password);
  await page.locator('form button[type=submit]').click();
  await page.locator('#inbox-title').waitFor();
}

/** Every message of the room as the server holds it, oldest first. */
async function roomMessages(user: TestUser, roomId: string): Promise<{ event_id: string; sender: string; content: Record<string, any> }[]> {
  const res = await user.api.get(`${C}/rooms/${enc(roomId)}/messages?dir=b&limit=500`);
  expect(res.status).toBe(200);
  return (res.body.chunk as any[]).filter((e) => e.type === 'm.room.message').reverse();
}

async function unreadOf(user: TestUser, roomId: string): Promise<number> {
  const res = await user.api.get(`${C}/sync?timeout=0`);
  return res.body.rooms?.join?.[roomId]?.unread_notifications?.notification_count ?? 0;
}

describe.skipIf(testDatabaseKind() !== 'pglite')('crisis rooms in the PWA', () => {
  let server: TestServer;
  let browser: Browser;
  let admin: TestUser;
  let alice: TestUser;
  let bob: TestUser;
  let roomId: string;
  let aliceContext: BrowserContext;
  let alicePage: Page;
  let bobContext: BrowserContext;
  let bobPage: Page;

  beforeAll(async () => {
    ensureClientBuilt();
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'rooms-chef');
    alice = await registerUser(server.url, 'rooms-alice');
    bob = await registerUser(server.url, 'rooms-bob');
    const tocsin = `@tocsin:${admin.userId.split(':')[1]}`;
    const created = await admin.api.post(`${C}/createRoom`, { name: 'Cellule de crise', preset: 'private_chat', invite: [alice.userId, bob.userId, tocsin] });
    expect(created.status).toBe(200);
    roomId = created.body.room_id;
    for (const u of [alice, bob]) expect((await u.api.post(`${C}/join/${enc(roomId)}`)).status).toBe(200);
    await eventually(async () => ((await admin.api.get(`${C}/rooms/${enc(roomId)}/joined_members`)).body.joined?.[tocsin] ? true : undefined), 'Tocsin joined on invitation');
    // More than one sync's worth (20 a room): the oldest are reached by paging back.
    for (let i = 1; i <= OLDER; i++) {
      const n = String(i).padStart(2, '0');
      expect((await admin.api.put(`${C}/rooms/${enc(roomId)}/send/m.room.message/old${n}`, { msgtype: 'm.text', body: `Ancien message ${n}` })).status).toBe(200);
    }
    browser = await launchChromium();
    aliceContext = await browser.newContext({ viewport: MOBILE, locale: 'fr-FR' });
    alicePage = await aliceContext.newPage();
    bobContext = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    bobPage = await bobContext.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await closeAllTestServers();
  });

  it('lists the rooms with their unread counts, and pages back to the oldest messages', async () => {
    const errors: string[] = [];
    alicePage.on('pageerror', (e) => errors.push(e.message));
    alicePage.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/.test(m.text())) errors.push(m.text());
    });
    const chunks: string[] = [];
    alicePage.on('request', (r) => void chunks.push(new URL(r.url()).pathname));
    const firstSync: Promise<number> = new Promise((resolve) => {
      alicePage.on('requestfinished', (r) => {
        const u = new URL(r.url());
        if (u.pathname === `${C}/sync` && !u.searchParams.has('since')) void r.response().then(async (res) => resolve((await res!.body()).length));
      });
    });
    await logIn(alicePage, server.url, alice, 'rooms-alice');
    // The first screen does not fetch the rooms' chunk.
    expect(chunks.filter((p) => /\/assets\/rooms-/.test(p))).toEqual([]);

    const serverUnread = await unreadOf(alice, roomId);
    expect(serverUnread).toBeGreaterThan(0);
    await alicePage.getByRole('link', { name: 'Salons' }).click();
    await alicePage.locator('#rooms-title').waitFor();
    expect(chunks.some((p) => /\/assets\/rooms-.*\.js$/.test(p))).toBe(true);
    const entry = alicePage.locator(`li[data-room="${roomId}"]`);
    await entry.waitFor({ timeout: 20_000 });
    expect(await entry.locator('.room-name').textContent()).toBe('Cellule de crise');
    expect(await entry.locator('[data-testid=unread]').textContent()).toBe(String(serverUnread));
    // The app's filter (lazy-loaded members, no presence or account data) keeps the first sync
    // smaller than one with the same number of events a room and nothing else filtered.
    const filtered = await firstSync;
    const plain = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 20 } } }));
    const unfiltered = JSON.stringify((await alice.api.get(`${C}/sync?timeout=0&filter=${plain}`)).body).length;
    console.log(`first sync of the rooms: ${filtered} bytes with the app's filter, ${unfiltered} with only the same timeline limit`);
    expect(filtered).toBeLessThan(unfiltered);
    await shot(alicePage, 'rooms-list-390x844');

    await entry.locator('a').click();
    await alicePage.locator('#room-title', { hasText: 'Cellule de crise' }).waitFor();
    await alicePage.locator('.msg .text', { hasText: `Ancien message ${OLDER}` }).waitFor();
    expect(await alicePage.locator('.msg .text', { hasText: 'Ancien message 01' }).count()).toBe(0);
    // Paging back until the start of the room, from the keyboard: focus stays on the button
    // while there is more, then goes to the timeline when the button is gone.
    await alicePage.getByRole('button', { name: 'Messages plus anciens' }).focus();
    while (!(await alicePage.locator('.older .meta').isVisible())) {
      await expect.poll(() => alicePage.evaluate(() => document.activeElement?.textContent)).toBe('Messages plus anciens');
      await alicePage.keyboard.press('Enter');
      await alicePage.locator('.older button:not([disabled]), .older .meta').first().waitFor();
    }
    await expect.poll(() => alicePage.evaluate(() => document.activeElement?.className)).toBe('timeline-scroll');
    const texts = (await alicePage.locator('.msg .text').allTextContents()).filter((s) => s.startsWith('Ancien message'));
    expect(texts).toEqual(Array.from({ length: OLDER }, (_, i) => `Ancien message ${String(i + 1).padStart(2, '0')}`));
    expect(await alicePage.locator('.notice-line', { hasText: 'a créé le salon' }).count()).toBe(1);

    // Read on view: the receipt reaches the server, so the unread count falls to zero.
    await eventually(async () => ((await unreadOf(alice, roomId)) === 0 ? true : undefined), 'alice read the room');
    expect(errors).toEqual([]);
  });

  it('two people chat: text and an image live, typing, a read receipt and a mention', async () => {
    await logIn(bobPage, server.url, bob, 'rooms-bob');
    await bobPage.goto(`${server.url}/#/rooms/${enc(roomId)}`);
    await bobPage.locator('#room-title', { hasText: 'Cellule de crise' }).waitFor();
    await bobPage.locator('.msg .text', { hasText: `Ancien message ${OLDER}` }).waitFor();

    // Alice writes; Bob sees it without reloading.
    await alicePage.locator('#composer-text').fill('Point de situation à 14 h');
    await alicePage.locator('#composer-text').press('Enter');
    await bobPage.locator('.msg .text', { hasText: 'Point de situation à 14 h' }).waitFor({ timeout: 20_000 });
    expect(await bobPage.locator('.msg', { hasText: 'Point de situation à 14 h' }).locator('.who').textContent()).toBe('rooms-alice');

    // An image: uploaded, sent as m.image with its size, shown through authenticated media.
    const png = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#c0392b' } }).png().toBuffer();
    await alicePage.locator('.composer input[type=file]').setInputFiles({ name: 'plan-evacuation.png', mimeType: 'image/png', buffer: png });
    const img = bobPage.locator('img.thumb[alt="plan-evacuation.png"]');
    await img.waitFor({ timeout: 20_000 });
    expect(await img.getAttribute('src')).toMatch(/^blob:/);
    await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.naturalWidth)).toBeGreaterThan(0);
    const image = (await roomMessages(admin, roomId)).find((e) => e.content.msgtype === 'm.image')!;
    expect(image.sender).toBe(alice.userId);
    expect(image.content.url).toMatch(/^mxc:\/\//);
    expect(image.content.info).toMatchObject({ mimetype: 'image/png', w: 120, h: 80, size: png.length });
    await alicePage.locator('img.thumb[alt="plan-evacuation.png"]').waitFor();

    // Bob has the room open: his receipt on the image shows at Alice's.
    const imageItem = alicePage.locator(`li[data-event="${image.event_id}"]`);
    await imageItem.locator('.seen', { hasText: 'Vu par rooms-bob' }).waitFor({ timeout: 20_000 });

    // Bob types: Alice sees it; he sends a message naming her: it is a mention for her.
    await bobPage.locator('#composer-text').fill('@rooms-alice j’arrive');
    await alicePage.locator('.typing', { hasText: 'rooms-bob écrit…' }).waitFor({ timeout: 20_000 });
    // She paged back to the start earlier: back to the newest for the picture.
    await alicePage.locator('.timeline-scroll').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await shot(alicePage, 'room-390x844');
    await bobPage.locator('#composer-text').press('Enter');
    const mention = alicePage.locator('li.msg.mention', { hasText: 'j’arrive' });
    await mention.waitFor({ timeout: 20_000 });
    await expect.poll(() => alicePage.locator('.typing').textContent(), { timeout: 20_000 }).toBe('');
    const sent = (await roomMessages(admin, roomId)).find((e) => e.content.body === '@rooms-alice j’arrive')!;
    expect(sent.content['m.mentions']).toEqual({ user_ids: [alice.userId] });
    // Her own messages never highlight for her, nor his for him.
    expect(await bobPage.locator('li.msg.mention').count()).toBe(0);
    await shot(bobPage, 'room-1280x800');
    await bobPage.goto(`${server.url}/#/rooms`);
    await bobPage.locator(`li[data-room="${roomId}"]`).waitFor();
    await shot(bobPage, 'rooms-list-1280x800');
    await bobPage.goto(`${server.url}/#/rooms/${enc(roomId)}`);
    await bobPage.locator('#composer-text').waitFor();
  });

  it('shows an alert posted in the room as an alert card that acknowledges', async () => {
    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'critical',
      title: 'Inondation sous-sol',
      body: 'Coupez le courant du niveau -1.',
      audience: [roomId],
      escalation: [{ after_s: 0, channels: ['matrix'] }],
    });
    expect(created.status).toBe(200);
    const alertId = created.body.alert_id as string;
    const card = alicePage.locator(`.timeline [data-alert="${alertId}"]`);
    await card.waitFor({ timeout: 20_000 });
    expect(await card.locator('.tag.sev-critical').textContent()).toBe('Critique');
    expect(await card.textContent()).toContain('Inondation sous-sol');
    await bobPage.locator(`.timeline [data-alert="${alertId}"] .tag.sev-critical`, { hasText: 'Critical' }).waitFor({ timeout: 20_000 });
    // Alice is a recipient (a member of the room): the card carries the inbox's acknowledgement.
    await card.getByRole('button', { name: /Accuser réception/ }).click({ timeout: 20_000 });
    await card.locator('.status.acked').waitFor();
    const status = await admin.api.get(`${V1}/alerts/${alertId}`);
    const line = status.body.recipients.find((r: { user_id: string }) => r.user_id === alice.userId);
    expect(line.ack_channel).toBe('app');
  });

  it('keeps a message written offline and sends it once when the link returns', async () => {
    await alicePage.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 20_000 });
    const body = 'Message écrit sans réseau';
    await aliceContext.setOffline(true);
    try {
      await alicePage.locator('#composer-text').fill(body);
      await alicePage.locator('#composer-text').press('Enter');
      const pending = alicePage.locator('li.msg.pending', { hasText: body });
      await pending.locator('.status-line', { hasText: 'En attente du réseau' }).waitFor();
      await alicePage.locator('.room .banner.offline').waitFor({ timeout: 20_000 });
      // Kept on the device across a reload (the app comes from the service worker).
      await alicePage.reload();
      await alicePage.locator('#room-title', { hasText: 'Cellule de crise' }).waitFor();
      await pending.waitFor();
      expect((await roomMessages(admin, roomId)).filter((e) => e.content.body === body)).toHaveLength(0);
    } finally {
      await aliceContext.setOffline(false);
    }
    await alicePage.locator('li.msg[data-event]', { hasText: body }).waitFor({ timeout: 40_000 });
    expect(await alicePage.locator('li.msg.pending', { hasText: body }).count()).toBe(0);
    await bobPage.locator('.msg .text', { hasText: body }).waitFor({ timeout: 20_000 });
    expect((await roomMessages(admin, roomId)).filter((e) => e.content.body === body)).toHaveLength(1);
    expect(await alicePage.evaluate(() => JSON.parse(localStorage.getItem('tocsin.outbox') ?? '{"items":[]}').items.length)).toBe(0);
  });

  it('resends with the same transaction id after a lost answer, and the room holds the message once', async () => {
    const body = 'Réponse perdue';
    const puts: string[] = [];
    const eventIds: string[] = [];
    let blockSync = false;
    // Once blocked, no sync answer reaches the app (not even a long-poll begun before), so the
    // echo cannot settle the message: the outbox must resend it.
    await bobPage.route(
      (u) => u.pathname === `${C}/sync`,
      async (route) => {
        if (blockSync) return route.abort('failed');
        try {
          const res = await route.fetch({ timeout: 60_000 });
          return blockSync ? route.abort('failed') : route.fulfill({ response: res });
        } catch {
          return route.abort('failed').catch(() => undefined);
        }
      },
    );
    await bobPage.route(
      (u) => u.pathname.includes('/send/m.room.message/'),
      async (route) => {
        if (route.request().method() !== 'PUT') return route.continue();
        puts.push(new URL(route.request().url()).pathname);
        const res = await route.fetch();
        eventIds.push(((await res.json()) as { event_id: string }).event_id);
        // The first answer is lost on the way back: the server has the message, the app does not know.
        if (puts.length === 1) return route.abort('failed');
        return route.fulfill({ response: res });
      },
    );
    try {
      // A sync through the routes first (the one in flight may have begun before them).
      await admin.api.put(`${C}/rooms/${enc(roomId)}/send/m.room.message/ping1`, { msgtype: 'm.text', body: 'ping' });
      await bobPage.locator('.msg .text', { hasText: /^ping$/ }).waitFor({ timeout: 40_000 });
      blockSync = true;
      await bobPage.locator('#composer-text').fill(body);
      await bobPage.locator('#composer-text').press('Enter');
      await eventually(async () => (eventIds.length >= 2 ? true : undefined), 'the app resends and hears back', 300);
      expect(puts[1]).toBe(puts[0]);
      expect(eventIds[1]).toBe(eventIds[0]);
    } finally {
      blockSync = false;
    }
    await bobPage.locator('li.msg[data-event]', { hasText: body }).waitFor({ timeout: 40_000 });
    expect(await bobPage.locator('.msg .text', { hasText: body }).count()).toBe(1);
    expect((await roomMessages(admin, roomId)).filter((e) => e.content.body === body)).toHaveLength(1);
    await bobPage.unrouteAll({ behavior: 'ignoreErrors' });
  });

  it('a revoked session takes the rooms and the outbox off the device', async () => {
    await bobContext.setOffline(true);
    await bobPage.locator('#composer-text').fill('Jamais envoyé');
    await bobPage.locator('#composer-text').press('Enter');
    await bobPage.locator('li.msg.pending', { hasText: 'Jamais envoyé' }).waitFor();
    const stored = await bobPage.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tocsin.')));
    expect(stored).toEqual(expect.arrayContaining(['tocsin.outbox', 'tocsin.rooms']));
    const token = await bobPage.evaluate(() => JSON.parse(localStorage.getItem('tocsin.session')!).token as string);
    expect((await bob.api.as(token).post(`${C}/logout`)).status).toBe(200);
    await bobContext.setOffline(false);
    await bobPage.locator('#login-error').waitFor({ timeout: 40_000 });
    // A late save of the rooms' state must not bring anything back.
    await bobPage.waitForTimeout(1000);
    expect(await bobPage.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tocsin.')))).toEqual([]);
    expect((await roomMessages(admin, roomId)).filter((e) => e.content.body === 'Jamais envoyé')).toHaveLength(0);
  });
});
