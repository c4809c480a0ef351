import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCREENSHOTS, launchChromium } from '../support/browser.ts';
import { enc, registerUser, type TestUser } from '../support/client.ts';
import { startHydrogen, type HydrogenClient } from '../support/hydrogen-client.ts';
import { freePort } from '../support/server-process.ts';
import { closeAllTestServers, startTestServer, testDatabaseKind, type TestServer } from '../support/server.ts';

// End to end with a stock Matrix web client: Hydrogen (Element Web is not on npm), built from
// the npm package at test time, in Debian's Chromium, against a real Tocsin. Two people in two
// browser contexts: one creates a room, invites the other, sends a text and a picture; the
// other joins and sees both, the picture fetched through authenticated media. Every answer of
// Tocsin in 4xx/5xx is recorded, and only the expected ones are allowed.

const ROOM_NAME = 'Cellule de crise';
const TEXT = 'Point de situation à 14 h : la cellule est ouverte.';
const REPLY = 'Bien reçu, je rejoins la cellule.';
const VIEWPORT = { width: 1200, height: 800 };

/** Error answers a stock client gets from a correct server, and why they are right. */
const EXPECTED_ERRORS: { pattern: RegExp; why: string }[] = [
  // Hydrogen asks for a dehydrated device (MSC2697, never in the spec) at each login; an
  // unknown endpoint is 404 M_UNRECOGNIZED by the spec, and Hydrogen goes on without one.
  { pattern: /^GET \/_matrix\/client\/unstable\/org\.matrix\.msc2697\.v2\/dehydrated_device -> 404( M_UNRECOGNIZED)?$/, why: 'unknown unstable endpoint' },
];

/**
 * Page errors that are Hydrogen's own, whatever the server answers. Its SDK 0.3.1 navigates to
 * `roomBeingCreated.id` while `createRoom()` (made async) still returns a promise, so the new
 * room opens on no id (`true`), which IndexedDB refuses; the room itself is created and listed.
 */
const HYDROGEN_BUGS = [/^getKey\(true\) failed on hydrogen_session_\d+\.archivedRoomSummary/];

interface MediaAnswer {
  who: string;
  kind: string;
  status: number;
  contentType: string;
  authorized: boolean;
}

describe.skipIf(testDatabaseKind() !== 'pglite')('a stock Matrix web client (Hydrogen) in Chromium', () => {
  let server: TestServer;
  let hydrogen: HydrogenClient;
  let browser: Browser;
  let alice: TestUser;
  let bob: TestUser;
  let alicePage: Page;
  let bobPage: Page;
  let picture: string;
  const errors: string[] = [];
  const pageErrors: string[] = [];
  const media: MediaAnswer[] = [];

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(SCREENSHOTS, `hydrogen-${name}.png`) });
  }

  /** A browser context of its own per person (own storage, own service worker), watched. */
  async function openAs(who: string): Promise<Page> {
    const context: BrowserContext = await browser.newContext({ viewport: VIEWPORT, locale: 'fr-FR' });
    const port = new URL(server.url).port;
    // On the context: requests that Hydrogen's service worker makes (media) are seen too.
    context.on('response', async (r) => {
      const url = new URL(r.url());
      if (url.port !== port) return;
      const line = `${r.request().method()} ${url.pathname}`;
      const m = /^\/_matrix\/client\/v1\/media\/(download|thumbnail)\//.exec(url.pathname);
      if (m) {
        // A context closed at the end of a test leaves no headers to read: nothing to record.
        const headers = await r.request().allHeaders().catch(() => undefined);
        if (!headers) return;
        media.push({ who, kind: m[1]!, status: r.status(), contentType: r.headers()['content-type'] ?? '', authorized: /^Bearer /.test(headers.authorization ?? '') });
      }
      if (r.status() >= 400) {
        // The body is not readable when Hydrogen's service worker passed the answer on.
        const body = (await r.json().catch(() => undefined)) as { errcode?: string } | undefined;
        errors.push(`${line} -> ${r.status()}${body?.errcode ? ` ${body.errcode}` : ''}`);
      }
    });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
    await page.goto(hydrogen.url);
    return page;
  }

  async function logIn(page: Page, user: TestUser): Promise<void> {
    await page.locator('#username').fill(user.userId.slice(1).split(':')[0]!);
    await page.locator('#password').fill(user.password);
    await page.locator('.PasswordLoginView button[type=submit]').click();
    await page.locator('.LeftPanel').waitFor();
  }

  async function send(page: Page, text: string): Promise<void> {
    const composer = page.locator('.MessageComposer_input textarea');
    await composer.fill(text);
    await composer.press('Enter');
  }

  function message(page: Page, text: string) {
    return page.locator('.Timeline_message', { hasText: text });
  }

  /** The picture's <img> once the browser has decoded it (complete, with real pixels). */
  async function renderedPicture(page: Page, src = '/_matrix/client/v1/media/'): Promise<{ src: string; width: number }> {
    const selector = `.Timeline_messageBody img[src*="${src}"]`;
    const img = page.locator(selector).last();
    await img.waitFor();
    // By selector, not by element handle: Hydrogen may render the tile again (a new <img>)
    // while the picture is decrypted or decoded, which would leave a handle on a detached node.
    await page.waitForFunction((sel) => {
      const all = document.querySelectorAll(sel);
      const el = all[all.length - 1];
      return el instanceof HTMLImageElement && el.complete && el.naturalWidth > 0;
    }, selector);
    return img.evaluate((el: HTMLImageElement) => ({ src: el.src, width: el.naturalWidth }));
  }

  /** Opens the options of a message (shown on hover) and picks one. */
  async function messageOption(page: Page, text: string, option: string): Promise<void> {
    const msg = message(page, text).first();
    await msg.hover();
    await msg.locator('.Timeline_messageOptions').click();
    await page.locator('.menu').getByText(option, { exact: true }).click();
  }

  /** Creates a room from the "+" menu and opens it. */
  async function createRoom(page: Page, name: string, { encrypted }: { encrypted: boolean }): Promise<void> {
    await page.locator('.LeftPanel button.create').click();
    await page.locator('.menu').getByText('Create Room').click();
    await page.locator('#name').fill(name);
    // Hydrogen encrypts private rooms unless told otherwise.
    await page.locator('#isEncrypted').setChecked(encrypted);
    await page.locator('.CreateRoomView button[type=submit]').click();
    // Hydrogen does not open the room it created (see HYDROGEN_BUGS): open it from the list.
    await page.locator('.RoomList li', { hasText: name }).click();
    await page.locator('.RoomHeader h2', { hasText: name }).waitFor();
  }

  /**
   * Invites from the room's member panel, and waits until the invitation is in the timeline
   * (then the inviter's client shares room keys with the invitee's devices). Not with the
   * `/invite` command: Hydrogen 0.3.1 also sends the command's text as a message without msgtype.
   */
  async function invite(page: Page, user: TestUser): Promise<void> {
    await page.locator('.RoomHeader button.room-options').click();
    await page.locator('.menu').getByText('Room details').click();
    await page.locator('.RoomDetailsView_row', { hasText: 'People' }).click();
    await page.locator('.MemberListView__invite-btn').click();
    await page.locator('.InvitePanelView__input').fill(user.userId);
    await page.locator('.InvitePanelView__btn').click();
    const localpart = user.userId.slice(1).split(':')[0]!;
    await page.locator('.AnnouncementView', { hasText: `${localpart} was invited` }).waitFor();
  }

  async function sendPicture(page: Page): Promise<void> {
    const chooser = page.waitForEvent('filechooser');
    await page.locator('.MessageComposer_input button.sendFile').click();
    await page.locator('.menu').getByText('Send picture').click();
    await (await chooser).setFiles(picture);
  }

  beforeAll(async () => {
    // A fixed port, so that the well-known (PUBLIC_BASEURL) Hydrogen discovers names it.
    const port = await freePort();
    server = await startTestServer({ PORT: String(port), PUBLIC_BASEURL: `http://localhost:${port}` });
    picture = path.join(mkdtempSync(path.join(tmpdir(), 'tocsin-hydrogen-pic-')), 'plan-de-situation.png');
    // Four coloured quarters: easy to recognise on the screenshots, and a real PNG to thumbnail.
    const quarter = (r: number, g: number, b: number) => sharp({ create: { width: 320, height: 200, channels: 3, background: { r, g, b } } }).png().toBuffer();
    const [red, blue] = await Promise.all([quarter(220, 40, 40), quarter(20, 120, 220)]);
    await sharp({ create: { width: 640, height: 400, channels: 3, background: { r: 255, g: 255, b: 255 } } })
      .composite([
        { input: blue, left: 0, top: 0 },
        { input: red, left: 320, top: 0 },
        { input: red, left: 0, top: 200 },
        { input: blue, left: 320, top: 200 },
      ])
      .png()
      .toFile(picture);
    [hydrogen, browser, alice, bob] = await Promise.all([
      startHydrogen(server.url),
      launchChromium(),
      registerUser(server.url, 'hy-alice'),
      registerUser(server.url, 'hy-bob'),
    ]);
  });

  afterAll(async () => {
    if (errors.length > 0) console.log(`error answers of Tocsin seen by Hydrogen:\n${[...new Set(errors)].join('\n')}`);
    await browser?.close();
    await hydrogen?.close();
    await closeAllTestServers();
    if (picture) rmSync(path.dirname(picture), { recursive: true, force: true });
  });

  it('A logs in, creates a room, invites B and sends a text and a picture', async () => {
    alicePage = await openAs('alice');
    await logIn(alicePage, alice);
    await createRoom(alicePage, ROOM_NAME, { encrypted: false });
    await invite(alicePage, bob);
    await send(alicePage, TEXT);
    await message(alicePage, TEXT).waitFor();

    await sendPicture(alicePage);
    // Once the server's echo replaces the local preview, the <img> points at Tocsin's media.
    const shown = await renderedPicture(alicePage);
    expect(shown.src).toContain('/_matrix/client/v1/media/thumbnail/');
    await shot(alicePage, 'alice-sent');
  });

  it('B accepts the invitation and sees the text and the picture, fetched through authenticated media', async () => {
    bobPage = await openAs('bob');
    await logIn(bobPage, bob);
    await bobPage.locator('.RoomList li', { hasText: ROOM_NAME }).click();
    await bobPage.locator('.InviteView', { hasText: 'hy-alice' }).waitFor();
    await shot(bobPage, 'bob-invited');
    await bobPage.locator('.InviteView').getByText('Accept').click();

    await bobPage.locator('.RoomHeader h2', { hasText: ROOM_NAME }).waitFor();
    await message(bobPage, TEXT).waitFor();
    const shown = await renderedPicture(bobPage);
    expect(shown.src).toContain('/_matrix/client/v1/media/thumbnail/');
    // The thumbnail came from Tocsin with B's token (added by Hydrogen's service worker).
    expect(media).toContainEqual(expect.objectContaining({ who: 'bob', kind: 'thumbnail', status: 200, contentType: expect.stringMatching(/^image\//), authorized: true }));
    // Scaled down on the server: at most the requested 400 px of the 640 px picture.
    expect(shown.width).toBeLessThanOrEqual(400);
    await shot(bobPage, 'bob-received');

    // Opening the picture downloads the original (in full) into the lightbox.
    await bobPage.locator('.Timeline_messageBody a[href*="lightbox"]').last().click();
    await bobPage.locator('.lightbox .picture[style*="/_matrix/client/v1/media/download/"]').waitFor();
    await expect
      .poll(() => media.filter((m) => m.who === 'bob' && m.kind === 'download'), { timeout: 15_000 })
      .toContainEqual(expect.objectContaining({ status: 200, contentType: 'image/png', authorized: true }));
    await shot(bobPage, 'bob-lightbox');
    await bobPage.locator('.lightbox .close').click();
  });

  it('B replies and reacts; A sees the reply quoting the text and the reaction', async () => {
    await messageOption(bobPage, TEXT, 'Reply');
    await send(bobPage, REPLY);
    await message(bobPage, REPLY).waitFor();
    const text = message(bobPage, TEXT).first();
    await text.hover();
    await text.locator('.Timeline_messageOptions').click();
    await bobPage.locator('.menu button', { hasText: '👍' }).click();
    await message(bobPage, TEXT).first().locator('.Timeline_messageReactions button', { hasText: '👍' }).waitFor();

    const reply = message(alicePage, REPLY);
    await reply.locator('.ReplyPreviewView', { hasText: TEXT }).waitFor();
    await message(alicePage, TEXT).first().locator('.Timeline_messageReactions button', { hasText: '1' }).waitFor();
    await shot(alicePage, 'alice-reply-and-reaction');
  });

  it('in an encrypted room (Hydrogen’s default), B decrypts the text and the picture A sends', async () => {
    const name = 'Cellule chiffrée';
    const text = 'Ce message est chiffré de bout en bout.';
    // B is logged in (its device has published its keys), so A's client shares the room key with it.
    await createRoom(alicePage, name, { encrypted: true });
    await invite(alicePage, bob);
    await send(alicePage, text);
    await message(alicePage, text).waitFor();
    await sendPicture(alicePage);

    const before = media.length;
    await bobPage.locator('.RoomList li', { hasText: name }).click();
    await bobPage.locator('.InviteView').getByText('Accept').click();
    await bobPage.locator('.RoomHeader h2', { hasText: name }).waitFor();
    await message(bobPage, text).waitFor();
    // Encrypted attachments are downloaded whole and decrypted in the page into a blob: URL.
    await renderedPicture(bobPage, 'blob:');
    expect(media.slice(before)).toContainEqual(expect.objectContaining({ who: 'bob', kind: 'download', status: 200, authorized: true }));
    await shot(bobPage, 'bob-encrypted');

    // The server holds ciphertext only.
    const roomId = decodeURIComponent(/\/room\/([^/]+)/.exec(new URL(bobPage.url()).hash)![1]!);
    const { body } = await bob.api.get(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
    const types = (body.chunk as { type: string }[]).map((e) => e.type);
    expect(types.filter((t) => t === 'm.room.encrypted').length).toBeGreaterThanOrEqual(2);
    expect(types).not.toContain('m.room.message');
  }, 90_000);

  it('gets no error answer from Tocsin but the expected ones, and no page error but Hydrogen’s own', () => {
    const unexpected = errors.filter((e) => !EXPECTED_ERRORS.some((x) => x.pattern.test(e)));
    expect(unexpected).toEqual([]);
    expect(pageErrors.filter((e) => !HYDROGEN_BUGS.some((x) => x.test(e.replace(/^\w+: /, ''))))).toEqual([]);
  });
});
