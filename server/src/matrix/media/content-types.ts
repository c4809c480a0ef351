import { create as contentDisposition } from 'content-disposition';
import type { Response } from 'express';

// What a download may be served as, and how. Media are user content served from the API's
// origin: a browser must never run them as a page of that origin.

/** The spec's list of types that may be served `inline` (client-server API, "Serving inline content"). */
const INLINE_TYPES = new Set([
  'text/css', 'text/plain', 'text/csv', 'application/json', 'application/ld+json',
  'image/jpeg', 'image/gif', 'image/png', 'image/apng', 'image/webp', 'image/avif',
  'video/mp4', 'video/webm', 'video/ogg', 'video/quicktime',
  'audio/mp4', 'audio/webm', 'audio/aac', 'audio/mpeg', 'audio/ogg', 'audio/wave', 'audio/wav',
  'audio/x-wav', 'audio/x-pn-wav', 'audio/flac', 'audio/x-flac',
]);

/** The policy the spec recommends for media: a sandboxed document that can load nothing. */
const MEDIA_CSP = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';";

// RFC 9110 media type: token "/" token, then `; name=value` parameters (token or quoted).
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(\\s*;\\s*${TOKEN}=(${TOKEN}|"[^"\\\\\\x00-\\x1f\\x7f]*"))*$`);

/** The Content-Type an upload declared, if it is a well-formed media type (else undefined). */
export function parseMediaType(header: string | undefined): string | undefined {
  const value = header?.trim();
  if (!value || value.length > 255 || !MEDIA_TYPE.test(value)) return undefined;
  return value;
}

export function essenceOf(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

/** Magic numbers of the image types a browser renders inline. */
const SIGNATURES: Record<string, (b: Buffer) => boolean> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/apng': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/gif': (b) => b.subarray(0, 4).toString('latin1') === 'GIF8',
  'image/webp': (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
};

/**
 * The type to store for an upload: what the client declared, unless it claims an image type
 * that the first bytes contradict (an HTML page labelled image/png); that one is stored as
 * application/octet-stream, which the spec allows for "obviously wrong" types.
 */
export function storedContentType(declared: string | undefined, head: Buffer): string | undefined {
  if (!declared) return undefined;
  const check = SIGNATURES[essenceOf(declared)];
  if (check && !check(head)) return 'application/octet-stream';
  return declared;
}

/** A file name fit for a Content-Disposition header: no paths, no control characters. */
export function validFileName(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return name.length > 0 && name.length <= 255 && !/[\x00-\x1f\x7f/\\]/.test(name) && name !== '.' && name !== '..';
}

/** Headers of every media answer (downloads and thumbnails). */
export function setMediaHeaders(res: Response, contentType: string, disposition: 'inline' | 'attachment' | 'auto', fileName: string | undefined): void {
  const type = disposition === 'auto' ? (INLINE_TYPES.has(essenceOf(contentType)) ? 'inline' : 'attachment') : disposition;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Disposition', fileName ? contentDisposition(fileName, { type }) : type);
  res.setHeader('Content-Security-Policy', MEDIA_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
  // A media ID never changes its bytes, but a quarantine must take effect within a day.
  // no-transform keeps the compression middleware off: images and video do not shrink.
  res.setHeader('Cache-Control', 'private, max-age=86400, no-transform');
}
