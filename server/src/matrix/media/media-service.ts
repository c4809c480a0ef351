import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import sharp from 'sharp';
import { MatrixError, cannotOverwriteMedia, forbidden, invalidParam, notFound, notYetUploaded, tooLarge } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import * as repo from '../../storage/media.ts';
import { BlobTooLargeError, SourceAbortedError, type BlobStore, type StoredBlob } from './blob-store.ts';
import { storedContentType } from './content-types.ts';
import { ImageTooLargeError, NotAnImageError, makeThumbnail, mayThumbnail, thumbnailBox, type ThumbnailMethod } from './thumbnailer.ts';
import { PreviewFailedError, PreviewRefusedError, decodeText, parseOpenGraph, type PreviewFetcher } from './url-preview.ts';

export interface MediaLimits {
  /** Largest upload accepted (`media.max_upload_bytes`). */
  maxUploadBytes: number;
  /** Reservations (POST /create) a user may hold unfilled at once. */
  maxPendingUploads: number;
  /** How long a reservation waits for its bytes. */
  reservationTtlMs: number;
  /** Originals over this size are not thumbnailed (413). */
  maxThumbnailSourceBytes: number;
  /** Longest wait a download may ask for (timeout_ms) on a reserved, not yet uploaded URI. */
  maxWaitMs: number;
  urlPreviews: boolean;
  /** Serve the deprecated unauthenticated download/thumbnail endpoints (frozen by default). */
  legacyDownloads: boolean;
}

export const DEFAULT_MEDIA_LIMITS: MediaLimits = {
  maxUploadBytes: 50 * 1024 * 1024,
  maxPendingUploads: 10,
  reservationTtlMs: 24 * 3600 * 1000,
  maxThumbnailSourceBytes: 20 * 1024 * 1024,
  maxWaitMs: 30_000,
  urlPreviews: true,
  legacyDownloads: false,
};

export interface UploadMeta {
  /** The upload's Content-Type, already checked for form. */
  contentType: string | undefined;
  fileName: string | undefined;
  /** The declared Content-Length; a body that ends short of it is refused. */
  length?: number | undefined;
}

/** What a download or thumbnail sends: headers come from it, bytes from `read`. */
export interface MediaContent {
  contentType: string;
  size: number;
  uploadName: string | null;
  read(range?: { start: number; end: number }): Readable;
}

const MEDIA_ID = /^[A-Za-z0-9_-]{1,255}$/;
const PREVIEW_TTL_MS = 3600_000;
const PREVIEW_CACHE_ENTRIES = 1000;

export interface MediaServiceDeps {
  db: Knex;
  store: BlobStore;
  serverName: string;
  limits: MediaLimits;
  fetcher: PreviewFetcher;
  log: Logger;
  now?: () => number;
}

export class MediaService {
  readonly #d: MediaServiceDeps;
  readonly #now: () => number;
  /** Downloads waiting for a reserved URI to be filled on this node. */
  readonly #waiters = new Map<string, Set<() => void>>();
  /** Thumbnails being made, so that concurrent asks share one job. */
  readonly #making = new Map<string, Promise<repo.ThumbnailRow>>();
  /** One thumbnail is made at a time: decoding is CPU and memory heavy. */
  #thumbnailQueue: Promise<unknown> = Promise.resolve();
  readonly #previews = new Map<string, { at: number; value: Promise<Record<string, unknown>> }>();

  constructor(deps: MediaServiceDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  get limits(): MediaLimits {
    return this.#d.limits;
  }

  mxc(mediaId: string): string {
    return `mxc://${this.#d.serverName}/${mediaId}`;
  }

  /** POST /upload: streams the body into the store, then records a new URI. */
  async upload(userId: string, source: Readable, meta: UploadMeta): Promise<string> {
    const blob = await this.#store(source, meta.length);
    const mediaId = newMediaId();
    await repo.insertUploaded(this.#d.db, mediaId, userId, this.#content(blob, meta), this.#now());
    return this.mxc(mediaId);
  }

  /** POST /create: a URI whose bytes come later. */
  async create(userId: string): Promise<{ content_uri: string; unused_expires_at: number }> {
    const now = this.#now();
    const pending = await repo.countPendingReservations(this.#d.db, userId, now);
    if (pending >= this.#d.limits.maxPendingUploads) {
      throw new MatrixError(429, 'M_LIMIT_EXCEEDED', `At most ${this.#d.limits.maxPendingUploads} uploads may be pending at once.`, { retry_after_ms: 60_000 });
    }
    const mediaId = newMediaId();
    const expires = now + this.#d.limits.reservationTtlMs;
    await repo.insertReservation(this.#d.db, mediaId, userId, now, expires);
    return { content_uri: this.mxc(mediaId), unused_expires_at: expires };
  }

  /** PUT /upload/{serverName}/{mediaId}: fills a reservation of the same user. */
  async uploadTo(userId: string, serverName: string, mediaId: string, source: Readable, meta: UploadMeta): Promise<void> {
    // Every check that needs no bytes comes first: a refused upload is not read.
    const row = this.#isLocal(serverName, mediaId) ? await repo.findMedia(this.#d.db, mediaId) : undefined;
    if (!row) throw notFound('Unknown media ID.');
    if (row.user_id !== userId) throw forbidden('This media ID was created by another user.');
    if (row.sha256) throw cannotOverwriteMedia();
    if (row.unused_expires_ts !== null && row.unused_expires_ts <= this.#now()) throw notFound('This media ID has expired.');
    const blob = await this.#store(source, meta.length);
    if (!(await repo.fillReservation(this.#d.db, mediaId, this.#content(blob, meta), this.#now()))) {
      // Filled by a concurrent upload, or expired meanwhile. The blob may be shared with
      // another URI (same bytes): it is left for a sweep rather than removed here.
      throw cannotOverwriteMedia();
    }
    this.#wake(mediaId);
  }

  /**
   * The row of a local URI with content, waiting up to `timeoutMs` for a reserved one.
   * Unknown, malformed, remote and quarantined URIs are all 404 M_NOT_FOUND.
   */
  async resolve(serverName: string, mediaId: string, timeoutMs: number | undefined): Promise<repo.MediaRow & { sha256: string }> {
    if (!this.#isLocal(serverName, mediaId)) throw notFound('Media not found.');
    const deadline = this.#now() + Math.min(Math.max(timeoutMs ?? 20_000, 0), this.#d.limits.maxWaitMs);
    for (;;) {
      const row = await repo.findMedia(this.#d.db, mediaId);
      if (!row || row.quarantined_ts !== null) throw notFound('Media not found.');
      if (row.sha256) return row as repo.MediaRow & { sha256: string };
      const now = this.#now();
      if (row.unused_expires_ts !== null && row.unused_expires_ts <= now) throw notFound('Media not found.');
      if (now >= deadline) throw notYetUploaded();
      // Woken by an upload on this node; the poll covers uploads on other nodes.
      await this.#waitFor(mediaId, Math.min(1000, deadline - now));
    }
  }

  async download(serverName: string, mediaId: string, timeoutMs: number | undefined): Promise<MediaContent> {
    const row = await this.resolve(serverName, mediaId, timeoutMs);
    const size = await this.#d.store.size(row.sha256);
    if (size === undefined) {
      this.#d.log.error({ mediaId, sha256: row.sha256 }, 'media blob missing from the store');
      throw notFound('Media not found.');
    }
    return { contentType: row.content_type ?? 'application/octet-stream', size, uploadName: row.upload_name, read: (range) => this.#d.store.read(row.sha256, range) };
  }

  async thumbnail(serverName: string, mediaId: string, width: number, height: number, method: ThumbnailMethod, timeoutMs: number | undefined): Promise<MediaContent> {
    const row = await this.resolve(serverName, mediaId, timeoutMs);
    if (!mayThumbnail(row.content_type)) throw new MatrixError(400, 'M_UNKNOWN', 'Cannot generate thumbnails for this content.');
    if ((row.size ?? 0) > this.#d.limits.maxThumbnailSourceBytes) throw tooLarge('Content is too large to thumbnail.');
    const box = thumbnailBox(width, height, method);
    let thumb = await repo.findThumbnail(this.#d.db, mediaId, box.width, box.height, box.method);
    if (!thumb) {
      const key = `${mediaId}/${box.width}x${box.height}/${box.method}`;
      let job = this.#making.get(key);
      if (!job) {
        job = this.#queued(() => this.#makeThumbnail(row, box)).finally(() => this.#making.delete(key));
        this.#making.set(key, job);
      }
      thumb = await job;
    }
    const sha256 = thumb.sha256;
    const size = await this.#d.store.size(sha256);
    if (size === undefined) throw notFound('Thumbnail not found.');
    return { contentType: thumb.content_type, size, uploadName: null, read: (range) => this.#d.store.read(sha256, range) };
  }

  async #makeThumbnail(row: repo.MediaRow & { sha256: string }, box: ReturnType<typeof thumbnailBox>): Promise<repo.ThumbnailRow> {
    const source = await readAll(this.#d.store.read(row.sha256), this.#d.limits.maxThumbnailSourceBytes);
    let made;
    try {
      made = await makeThumbnail(source, box);
    } catch (err) {
      if (err instanceof ImageTooLargeError) throw tooLarge('Content is too large to thumbnail.');
      if (err instanceof NotAnImageError) throw new MatrixError(400, 'M_UNKNOWN', 'Cannot generate thumbnails for this content.');
      throw err;
    }
    const blob = await this.#d.store.put(Readable.from([made.data]), made.data.length);
    const thumb: repo.ThumbnailRow = {
      media_id: row.media_id,
      width: box.width,
      height: box.height,
      method: box.method,
      content_type: made.contentType,
      sha256: blob.sha256,
      size: blob.size,
    };
    await repo.insertThumbnail(this.#d.db, thumb);
    return thumb;
  }

  /** GET /preview_url: OpenGraph data of a page, its image stored as media of the requester. */
  async preview(userId: string, rawUrl: string): Promise<Record<string, unknown>> {
    if (!this.#d.limits.urlPreviews) throw forbidden('URL previews are turned off on this server.');
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw invalidParam('url is not a URL.');
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || rawUrl.length > 2048) throw invalidParam('Only http(s) URLs of up to 2048 characters are previewed.');
    url.hash = '';
    const key = url.toString();
    const now = this.#now();
    const cached = this.#previews.get(key);
    if (cached && now - cached.at < PREVIEW_TTL_MS) return cached.value;
    const value = this.#buildPreview(userId, url);
    this.#previews.set(key, { at: now, value });
    // A failure is not cached: the page may come back.
    value.catch(() => this.#previews.delete(key));
    if (this.#previews.size > PREVIEW_CACHE_ENTRIES) this.#previews.delete(this.#previews.keys().next().value!);
    return value;
  }

  async #buildPreview(userId: string, url: URL): Promise<Record<string, unknown>> {
    const limits = { timeoutMs: 10_000, maxBytes: 1024 * 1024, maxRedirects: 5 };
    try {
      const page = await this.#d.fetcher.fetch(url, limits, 'text/html, application/xhtml+xml, image/*;q=0.9, */*;q=0.1');
      if (/^image\//i.test(page.contentType)) return await this.#previewImage(userId, page.body, page.contentType, page.url);
      if (!/^(text\/html|application\/xhtml\+xml)\b/i.test(page.contentType)) return {};
      const og: Record<string, unknown> = parseOpenGraph(decodeText(page.body, page.contentType), page.url);
      if (typeof og['og:image'] === 'string') {
        const imageUrl = new URL(og['og:image']);
        delete og['og:image'];
        try {
          const image = await this.#d.fetcher.fetch(imageUrl, { ...limits, maxBytes: Math.min(this.#d.limits.maxUploadBytes, 10 * 1024 * 1024) }, 'image/*');
          if (/^image\//i.test(image.contentType)) Object.assign(og, await this.#previewImage(userId, image.body, image.contentType, image.url));
        } catch (err) {
          // The page previews without its image.
          this.#d.log.debug({ err: (err as Error).message, url: imageUrl.host }, 'preview image not fetched');
        }
      }
      return og;
    } catch (err) {
      if (err instanceof PreviewRefusedError) throw forbidden('This URL may not be previewed.');
      if (err instanceof PreviewFailedError) throw new MatrixError(502, 'M_UNKNOWN', `Could not preview the URL: ${err.message}.`);
      throw err;
    }
  }

  async #previewImage(userId: string, body: Buffer, contentType: string, url: URL): Promise<Record<string, unknown>> {
    const type = contentType.split(';')[0]!.trim().toLowerCase();
    const blob = await this.#d.store.put(Readable.from([body]), body.length);
    const mediaId = newMediaId();
    const fileName = decodeURIComponent(url.pathname.split('/').pop() ?? '').slice(0, 255) || null;
    await repo.insertUploaded(this.#d.db, mediaId, userId, { ...this.#content(blob, { contentType: type, fileName: undefined }), uploadName: fileName && !/[\x00-\x1f/\\]/.test(fileName) ? fileName : null }, this.#now());
    const out: Record<string, unknown> = { 'og:image': this.mxc(mediaId), 'og:image:type': type, 'matrix:image:size': blob.size };
    const meta = await sharp(body, { limitInputPixels: 40_000_000 })
      .metadata()
      .catch(() => undefined);
    if (meta?.width && meta.height) Object.assign(out, { 'og:image:width': meta.width, 'og:image:height': meta.height });
    return out;
  }

  /** Admin view of one URI (also quarantined ones). */
  async info(serverName: string, mediaId: string): Promise<repo.MediaRow> {
    const row = this.#isLocal(serverName, mediaId) ? await repo.findMedia(this.#d.db, mediaId) : undefined;
    if (!row) throw notFound('Media not found.');
    return row;
  }

  /** Quarantines a URI and every URI with the same bytes; returns them as mxc URIs. */
  async quarantine(adminId: string, serverName: string, mediaId: string): Promise<string[]> {
    await this.info(serverName, mediaId);
    const ids = await repo.quarantine(this.#d.db, mediaId, adminId, this.#now());
    this.#d.log.info({ audit: 'media.quarantine', by: adminId, media: ids }, 'media quarantined');
    return ids.map((id) => this.mxc(id));
  }

  async unquarantine(adminId: string, serverName: string, mediaId: string): Promise<string[]> {
    await this.info(serverName, mediaId);
    const ids = await repo.unquarantine(this.#d.db, mediaId);
    this.#d.log.info({ audit: 'media.unquarantine', by: adminId, media: ids }, 'media released from quarantine');
    return ids.map((id) => this.mxc(id));
  }

  #isLocal(serverName: string, mediaId: string): boolean {
    return serverName === this.#d.serverName && MEDIA_ID.test(mediaId);
  }

  async #store(source: Readable, length: number | undefined): Promise<StoredBlob> {
    try {
      return await this.#d.store.put(source, this.#d.limits.maxUploadBytes, length);
    } catch (err) {
      if (err instanceof BlobTooLargeError) throw tooLarge(`Uploads are limited to ${this.#d.limits.maxUploadBytes} bytes.`);
      if (err instanceof SourceAbortedError) throw new MatrixError(400, 'M_UNKNOWN', 'The upload was interrupted.');
      throw err;
    }
  }

  #content(blob: StoredBlob, meta: UploadMeta): repo.UploadedContent {
    return { contentType: storedContentType(meta.contentType, blob.head) ?? null, uploadName: meta.fileName ?? null, size: blob.size, sha256: blob.sha256 };
  }

  #queued<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#thumbnailQueue.then(job, job);
    this.#thumbnailQueue = run.catch(() => undefined);
    return run;
  }

  #waitFor(mediaId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.#waiters.get(mediaId) ?? new Set();
      this.#waiters.set(mediaId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.#waiters.delete(mediaId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  #wake(mediaId: string): void {
    for (const done of [...(this.#waiters.get(mediaId) ?? [])]) done();
  }
}

/** 24 URL-safe characters: 144 random bits, within the spec's `[A-Za-z0-9_-]`. */
function newMediaId(): string {
  return randomBytes(18).toString('base64url');
}

async function readAll(stream: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      stream.destroy();
      throw tooLarge('Content is too large to thumbnail.');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
