/**
 * First load of the PWA over an emulated EDGE link (`sh scripts/node.sh server/bench/pwa-load.ts`
 * from the repository root).
 *
 * Starts the real server in this process (PGlite; the browser is the costly part), gives a signed-in manager three alerts,
 * and opens the app in Debian's Chromium (390x844) through the EDGE link of the alerts work
 * (test/support/edge-link.ts: 80 kbit/s down, 40 kbit/s up, 250 ms each way, a round trip per
 * new TCP connection). The session is already on the phone (as after a first login), so the
 * figure is the app's own: from navigation to the inbox showing its alerts with their
 * Acknowledge buttons.
 *   - cold: empty browser cache, no service worker: the shell crosses the link, then the feed;
 *   - warm: a reload once the service worker holds the shell: nothing of the shell crosses.
 * Bytes: TCP payload that crossed the link during each load (HTTP headers included, TCP/IP
 * headers and TLS not), and per file as Chromium saw it (headers + body as sent, gzip), so a
 * growth can be traced to what grew. Writes bench/results/pwa-load.{json,md}.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureClientBuilt, launchChromium } from '../test/support/browser.ts';
import { registerAdmin, registerUser } from '../test/support/client.ts';
import { EdgeLink } from '../test/support/edge-link.ts';
import { loadConfig } from '../src/config/config.ts';
import { createLogger } from '../src/logger.ts';
import { startServer } from '../src/server.ts';
import { serverDir, sleep } from './support.ts';

const LINK = { downKbps: 80, upKbps: 40, latencyMs: 250 };

function log(msg: string): void {
  process.stderr.write(`pwa-load: ${msg}\n`);
}

async function quiet(link: EdgeLink): Promise<void> {
  // The service worker precaches in the background after the first load: wait until the
  // link has carried nothing for 2 s (the feed's long-poll is idle).
  let last = -1;
  for (;;) {
    const c = link.counters();
    const total = c.up + c.down;
    if (total === last) return;
    last = total;
    await sleep(2000);
  }
}

async function main(): Promise<void> {
  ensureClientBuilt();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tocsin-pwa-load-'));
  const config = loadConfig({ PORT: '0', SERVER_NAME: 'localhost', ENABLE_REGISTRATION: 'true', REGISTRATION_SHARED_SECRET: 'test-shared-secret', RATE_LIMITS: 'off', LOG_LEVEL: 'warn', DATA_DIR: dataDir });
  const server = await startServer(config, createLogger(config.logLevel));
  const browser = await launchChromium();
  let link: EdgeLink | undefined;
  try {
    const admin = await registerAdmin(server.url, 'bench-admin');
    const manager = await registerUser(server.url, 'manager');
    for (const title of ['Crue de la Loire', 'Coupure électrique', 'Incendie bâtiment C']) {
      await admin.api.post('/_tocsin/v1/alerts', { severity: 'critical', title, body: 'Consignes : rejoindre la cellule de crise.', audience: [manager.userId], escalation: [{ after_s: 0, channels: ['matrix'] }] });
    }
    link = await EdgeLink.start({ target: { port: Number(new URL(server.url).port) }, ...LINK });
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'fr-FR' });
    const session = JSON.stringify({ userId: manager.userId, token: manager.token, deviceId: manager.deviceId });
    await context.addInitScript((s: string) => {
      if (!localStorage.getItem('tocsin.session')) localStorage.setItem('tocsin.session', s);
    }, session);
    const page = await context.newPage();
    const ready = () => page.locator('.card .ack-button').nth(2).waitFor({ timeout: 120_000 });

    // What each request of a load cost (response headers + body as sent), by path.
    let files: { path: string; headers: number; body: number }[] = [];
    page.on('requestfinished', (req) => {
      const entry = { path: new URL(req.url()).pathname, headers: 0, body: 0 };
      files.push(entry);
      void req.sizes().then((sz) => Object.assign(entry, { headers: Math.max(0, sz.responseHeadersSize), body: Math.max(0, sz.responseBodySize) }), () => undefined);
    });

    const measure = async (name: string, go: () => Promise<unknown>) => {
      files = [];
      const before = link!.counters();
      const t0 = performance.now();
      await go();
      await ready();
      const ms = Math.round(performance.now() - t0);
      const after = link!.counters();
      await sleep(200);
      const result = { load: name, usable_ms: ms, bytes_down: after.down - before.down, bytes_up: after.up - before.up, connections: after.connections - before.connections, files: [...files] };
      log(JSON.stringify(result));
      return result;
    };

    const cold = await measure('cold', () => page.goto(link!.url, { waitUntil: 'commit' }));
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 300_000 });
    await quiet(link);
    const warm = await measure('warm', () => page.reload({ waitUntil: 'commit' }));
    await quiet(link);
    const report = {
      date: new Date().toISOString(),
      node: process.version,
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown' },
      // The machine is shared: wall-clock figures are inflated by its load.
      load_average: os.loadavg().map((l) => Math.round(l * 100) / 100),
      link: LINK,
      results: [cold, warm],
    };
    const out = process.env.BENCH_OUT ?? path.join(serverDir, 'bench/results');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'pwa-load.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(
      path.join(out, 'pwa-load.md'),
      [
        '# First load of the PWA over an emulated EDGE link',
        '',
        `${report.date} · ${report.machine.cores} cores (${report.machine.cpu}) · load average ${report.load_average.join(', ')} · Node ${report.node} · Debian Chromium`,
        '',
        `Link (test/support/edge-link.ts): ${LINK.downKbps} kbit/s down, ${LINK.upKbps} kbit/s up, ${LINK.latencyMs} ms each way, a round trip per new TCP connection. Signed-in manager with three alerts; usable = the inbox shows the three alerts with their Acknowledge buttons. Bytes: TCP payload over the link during the load.`,
        '',
        '| load | usable ms | bytes down | bytes up | new connections |',
        '|---|---|---|---|---|',
        ...report.results.map((r) => `| ${r.load} | ${r.usable_ms} | ${r.bytes_down} | ${r.bytes_up} | ${r.connections} |`),
        '',
        'Aim (issue 6): cold under 10 s, warm under 1.5 s.',
        '',
        'Cold load, per file as Chromium saw it (response headers + body as sent; the service worker fetches after usable are not counted here):',
        '',
        '| path | headers | body |',
        '|---|---|---|',
        ...cold.files.map((f) => `| ${f.path} | ${f.headers} | ${f.body} |`),
        '',
      ].join('\n'),
    );
  } finally {
    await browser.close();
    await link?.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
