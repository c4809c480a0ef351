import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

// Hydrogen, a stock Matrix web client that is on npm (`hydrogen-view-sdk` ships the whole app),
// built at test time from server/test/support/hydrogen/ into a temporary folder and served from
// its own origin, as a deployment would host it apart from the homeserver (so CORS is real).

const repo = path.resolve(import.meta.dirname, '../../..');
const SOURCE = path.join(import.meta.dirname, 'hydrogen');
const VITE = path.join(repo, 'node_modules/vite/bin/vite.js');
const SDK = path.join(repo, 'node_modules/hydrogen-view-sdk');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

export interface HydrogenClient {
  url: string;
  close(): Promise<void>;
}

/** Builds Hydrogen with Vite (a child process, as the PWA's build runs) into a fresh folder. */
async function build(outDir: string): Promise<void> {
  await promisify(execFile)(
    process.execPath,
    [VITE, 'build', SOURCE, '--outDir', outDir, '--emptyOutDir', '--base', './', '--target', 'es2022', '--logLevel', 'warn'],
    { cwd: SOURCE, env: { ...process.env, NODE_ENV: 'production' }, maxBuffer: 16 * 1024 * 1024 },
  );
  // The service worker must sit at the root of the app's scope; Vite does not emit it.
  copyFileSync(path.join(SDK, 'lib-build/sw.js'), path.join(outDir, 'sw.js'));
}

/** Builds and serves Hydrogen configured for `homeserver`. */
export async function startHydrogen(homeserver: string): Promise<HydrogenClient> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-hydrogen-'));
  await build(dir);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ defaultHomeServer: homeserver }));
  const server: Server = createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(dir, pathname === '/' ? 'index.html' : pathname);
    if (!file.startsWith(dir + path.sep) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // Loopback is a secure context (service workers need one); the homeserver has another port.
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
