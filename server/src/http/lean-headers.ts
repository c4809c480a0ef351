import type { Response } from 'express';

// Answers for phones on bad links (the alert feed, the app's acknowledgement, the no-JS ack
// page) go without the headers that do nothing for them: helmet's full set plus the CORS
// preflight headers weigh about 500 bytes, more than an alert feed frame, and at 80 kbit/s
// every 100 bytes is 10 ms. Everything else keeps helmet's defaults.

/** Read by browsers only on a preflight's answer (the preflight, answered before any route, keeps them). */
const PREFLIGHT_ONLY = ['Access-Control-Allow-Methods', 'Access-Control-Allow-Headers'];

/** Legacy or hint headers that protect nothing on these answers, documents included. */
const LEGACY = [
  'Cross-Origin-Resource-Policy', // only for no-cors loads (images, scripts) from other sites
  'Origin-Agent-Cluster', // a process-isolation hint
  'X-DNS-Prefetch-Control', // these answers hold no links to prefetch
  'X-Download-Options', // Internet Explorer 8
  'X-Permitted-Cross-Domain-Policies', // Flash and Acrobat
  'X-XSS-Protection', // `0` only turns off an auditor that browsers no longer have
];

/** Only for documents: a JSON answer is never framed, never refers to anything. */
const DOCUMENT_ONLY = [
  'X-Frame-Options',
  'Referrer-Policy',
  // A browser learns it from any answer of the origin (the PWA's own pages carry it).
  'Strict-Transport-Security',
];

/**
 * Drops the headers an answer does not need; call it before answering. A `json` answer keeps
 * Content-Type, Content-Length, Date, Vary, X-Content-Type-Options (a JSON body must not be
 * sniffed as a script or page) and Access-Control-Allow-Origin; a `page` also keeps
 * X-Frame-Options, Referrer-Policy and Strict-Transport-Security.
 */
export function leanHeaders(res: Response, kind: 'json' | 'page'): void {
  for (const name of [...PREFLIGHT_ONLY, ...LEGACY, ...(kind === 'json' ? DOCUMENT_ONLY : [])]) res.removeHeader(name);
}
