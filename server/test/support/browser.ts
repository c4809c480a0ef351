import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const repo = path.resolve(import.meta.dirname, '../../..');
export const CLIENT_DIST = path.join(repo, 'client/dist');
/** Screenshots for people to look at (git-ignored). */
export const SCREENSHOTS = path.join(repo, 'server/test-output/screenshots');

/** Debian's Chromium (CI installs it); CHROMIUM_PATH for another one. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function newestMtime(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(p).map((n) => newestMtime(path.join(p, n))));
}

/**
 * Builds client/dist when it is missing or older than its sources (the client's own, and the
 * server's SMS composer the console shares, the log book's entry format). The build fails above the shell's size budget.
 */
export function ensureClientBuilt(): void {
  const index = path.join(CLIENT_DIST, 'index.html');
  const sources = ['client/src', 'client/public', 'client/build', 'client/index.html', 'client/vite.config.ts', 'server/src/crisis/channels/sms', 'server/src/crisis/channels/alert-text.ts', 'server/src/crisis/logbook/logbook-entry.ts'];
  const newest = Math.max(...sources.map((s) => newestMtime(path.join(repo, s))));
  if (existsSync(index) && statSync(index).mtimeMs >= newest) return;
  execFileSync('sh', [path.join(repo, 'scripts/build-client.sh')], { stdio: 'inherit' });
}

export async function launchChromium(): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-dev-shm-usage'] });
}
