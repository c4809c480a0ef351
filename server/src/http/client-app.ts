import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../logger.ts';

/** Where `npm install` (the root `prepare` script) leaves the built PWA. */
export const DEFAULT_CLIENT_DIR = path.resolve(import.meta.dirname, '../../../client/dist');

/**
 * What the PWA may load: its own scripts, styles, icons and worker, and the API of its own
 * origin (fetch, and the live board's WebSocket: CSP 3 lets 'self' match ws: and wss: of the
 * same host), and the rooms' images as blob: URLs (authenticated media is fetched with the
 * access token, which an <img> cannot send). No inline script or style, no third party, no framing.
 */
export const CLIENT_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const YEAR_S = 365 * 24 * 3600;

/**
 * Cache rules: file names under /assets/ carry a content hash, so they never change and are
 * cached for a year; everything else (index.html, sw.js, the manifest, icons) keeps its name
 * across versions and is revalidated on each load, so a new version reaches phones at once.
 */
function cacheControl(urlPath: string): string {
  return urlPath.startsWith('/assets/') ? `public, max-age=${YEAR_S}, immutable` : 'no-cache';
}

/**
 * Serves the built PWA at `/`, after every API route (an unknown API path still gets the
 * Matrix 404). Without a build it answers `/` with a page saying how to make one.
 */
export function clientApp(dir: string, log: Logger): (req: Request, res: Response, next: NextFunction) => void {
  const index = path.join(dir, 'index.html');
  if (!existsSync(index)) {
    log.warn({ dir }, 'the web app is not built (run `npm run build:client`); / shows a notice');
    return (req, res, next) => {
      if ((req.method !== 'GET' && req.method !== 'HEAD') || (req.path !== '/' && req.path !== '/index.html')) return next();
      res.status(503).setHeader('Content-Security-Policy', "default-src 'none'").type('text').send('Tocsin: the web app is not built. Run `npm run build:client`, then restart.\n');
    };
  }
  const files = express.static(dir, {
    index: 'index.html',
    dotfiles: 'ignore',
    redirect: false,
    setHeaders: (res, filePath) => {
      const rel = `/${path.relative(dir, filePath).split(path.sep).join('/')}`;
      res.setHeader('Cache-Control', cacheControl(rel));
      res.setHeader('Content-Security-Policy', CLIENT_CSP);
      // The app runs on its own origin and is never embedded; the API keeps CORS for other clients.
      res.removeHeader('Access-Control-Allow-Origin');
    },
  });
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    // The API namespaces never fall through to files, whatever a build holds.
    if (req.path.startsWith('/_matrix/') || req.path.startsWith('/_tocsin/') || req.path.startsWith('/_synapse/')) return next();
    files(req, res, next);
  };
}
