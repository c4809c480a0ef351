import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { recordAudit } from '../../audit/audit-log.ts';
import { MatrixError, forbidden, invalidParam, missingParam, notFound, tooLarge } from '../../errors.ts';
import { RateLimiter } from '../../http/rate-limit.ts';
import { publicRoute, userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { parseMediaType, setMediaHeaders, validFileName } from './content-types.ts';
import type { MediaContent, UploadMeta } from './media-service.ts';

const CLIENT_V1 = '/_matrix/client/v1/media';
const MEDIA_V3 = '/_matrix/media/v3';
const ADMIN = '/_tocsin/v1/admin/media';
/** An upload that sends nothing for this long is dropped (requests have no overall timeout). */
const UPLOAD_IDLE_MS = 60_000;

function timeoutOf(value: string | undefined): number | undefined {
  const n = value === undefined ? NaN : Number(value);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

function dimension(name: string, value: string | undefined): number {
  if (value === undefined) throw missingParam(`${name} is required.`);
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw invalidParam(`${name} must be a positive integer.`);
  return Number(value);
}

/** The single byte range of a `Range` header, if there is one we can serve. */
function rangeOf(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return 'unsatisfiable';
  return { start, end };
}

/** Streams a media answer; a client that goes away mid-way only ends the stream. */
async function send(req: Request, res: Response, content: MediaContent): Promise<void> {
  res.setHeader('Accept-Ranges', 'bytes');
  const range = rangeOf(req.headers.range, content.size);
  if (range === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${content.size}`);
    throw new MatrixError(416, 'M_UNKNOWN', 'Range not satisfiable.');
  }
  if (range) {
    res.status(206);
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${content.size}`);
    res.setHeader('Content-Length', String(range.end - range.start + 1));
  } else {
    res.status(200);
    res.setHeader('Content-Length', String(content.size));
  }
  try {
    await pipeline(content.read(range), res);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  }
}

/** The upload's type and name, checked before any byte is read. */
function uploadMeta(req: Request, query: Record<string, string | undefined>, maxBytes: number): UploadMeta {
  const declared = req.headers['content-length'];
  const length = declared === undefined ? undefined : Number(declared);
  if (length !== undefined && length > maxBytes) throw tooLarge(`Uploads are limited to ${maxBytes} bytes.`);
  const header = req.headers['content-type'];
  const contentType = parseMediaType(header);
  if (header !== undefined && header.trim() !== '' && !contentType) throw invalidParam('Content-Type is not a media type.');
  const fileName = query.filename;
  if (fileName !== undefined && !validFileName(fileName)) throw invalidParam('filename may not be empty, hold a path or control characters, or exceed 255 characters.');
  return { contentType, fileName, length };
}

/**
 * Runs an upload handler with the body still unread (rawBody routes), dropping idle senders.
 * A failed upload closes its connection after the answer: the rest of its body, if any, is
 * not worth reading, and a client that half-closed it learns that the answer is final.
 */
async function receiving<T>(req: Request, res: Response, work: () => Promise<T>): Promise<T> {
  const onIdle = () => req.destroy(new Error('upload idle'));
  req.socket.setTimeout(UPLOAD_IDLE_MS);
  req.socket.once('timeout', onIdle);
  try {
    return await work();
  } catch (err) {
    if (!res.headersSent) res.setHeader('Connection', 'close');
    throw err;
  } finally {
    req.socket.off('timeout', onIdle);
    req.socket.setTimeout(0);
  }
}

export function mediaRoutes(s: Services): RouteDef[] {
  const media = s.media;
  // Uploads and previews cost disk and outbound requests: per user, per node.
  const uploads = new RateLimiter(2, 30, s.config.rateLimits);
  const previews = new RateLimiter(1, 10, s.config.rateLimits);
  const config = () => ({ 'm.upload.size': media.limits.maxUploadBytes });

  const download = async ({ req, res, params, query }: { req: Request; res: Response; params: Record<string, string>; query: Record<string, string | undefined> }) => {
    const fileName = params.fileName;
    if (fileName !== undefined && !validFileName(fileName)) throw invalidParam('Bad file name.');
    const content = await media.download(params.serverName!, params.mediaId!, timeoutOf(query.timeout_ms));
    setMediaHeaders(res, content.contentType, 'auto', fileName ?? content.uploadName ?? undefined);
    await send(req, res, content);
  };

  const thumbnail = async ({ req, res, params, query }: { req: Request; res: Response; params: Record<string, string>; query: Record<string, string | undefined> }) => {
    const width = dimension('width', query.width);
    const height = dimension('height', query.height);
    const method = query.method ?? 'scale';
    if (method !== 'scale' && method !== 'crop') throw invalidParam('method must be crop or scale.');
    const content = await media.thumbnail(params.serverName!, params.mediaId!, width, height, method, timeoutOf(query.timeout_ms));
    const extension = content.contentType.split('/')[1] ?? 'bin';
    setMediaHeaders(res, content.contentType, 'inline', `thumbnail.${extension}`);
    await send(req, res, content);
  };

  const preview = async ({ requester, query }: { requester: { userId: string }; query: Record<string, string | undefined> }) => {
    if (!query.url) throw missingParam('url is required.');
    previews.take(requester.userId);
    return media.preview(requester.userId, query.url);
  };

  const adminOnly = (isAdmin: boolean) => {
    if (!isAdmin) throw forbidden('Server administrators only.');
  };

  return [
    userRoute(
      'POST',
      `${MEDIA_V3}/upload`,
      async ({ req, res, requester, query }) =>
        receiving(req, res, async () => {
          uploads.take(requester.userId);
          const meta = uploadMeta(req, query, media.limits.maxUploadBytes);
          return { content_uri: await media.upload(requester.userId, req, meta) };
        }),
      { rawBody: true },
    ),
    userRoute('POST', '/_matrix/media/v1/create', async ({ requester }) => {
      uploads.take(requester.userId);
      return media.create(requester.userId);
    }),
    userRoute(
      'PUT',
      `${MEDIA_V3}/upload/:serverName/:mediaId`,
      async ({ req, res, requester, params, query }) =>
        receiving(req, res, async () => {
          uploads.take(requester.userId);
          const meta = uploadMeta(req, query, media.limits.maxUploadBytes);
          await media.uploadTo(requester.userId, params.serverName!, params.mediaId!, req, meta);
          return {};
        }),
      { rawBody: true },
    ),

    userRoute('GET', `${CLIENT_V1}/download/:serverName/:mediaId`, download),
    userRoute('GET', `${CLIENT_V1}/download/:serverName/:mediaId/:fileName`, download),
    userRoute('GET', `${CLIENT_V1}/thumbnail/:serverName/:mediaId`, thumbnail),
    userRoute('GET', `${CLIENT_V1}/config`, config),
    userRoute('GET', `${CLIENT_V1}/preview_url`, preview),

    // The deprecated unauthenticated endpoints are frozen, as the spec (v1.12) asks: every
    // media here was uploaded after the freeze, so none is served without a token. Clients
    // pick the authenticated endpoints from /versions (v1.11); until the server lists it, an
    // operator may serve these (media.legacy_unauthenticated_downloads) so that images show.
    ...(media.limits.legacyDownloads
      ? [
          publicRoute('GET', `${MEDIA_V3}/download/:serverName/:mediaId`, download),
          publicRoute('GET', `${MEDIA_V3}/download/:serverName/:mediaId/:fileName`, download),
          publicRoute('GET', `${MEDIA_V3}/thumbnail/:serverName/:mediaId`, thumbnail),
        ]
      : [`${MEDIA_V3}/download/:serverName/:mediaId`, `${MEDIA_V3}/download/:serverName/:mediaId/:fileName`, `${MEDIA_V3}/thumbnail/:serverName/:mediaId`].map((frozen) =>
          publicRoute('GET', frozen, () => {
            throw notFound('Media is served by the authenticated endpoints (/_matrix/client/v1/media) only.');
          }),
        )),
    // Their config and preview_url always required a token: still served.
    userRoute('GET', `${MEDIA_V3}/config`, config),
    userRoute('GET', `${MEDIA_V3}/preview_url`, preview),

    // Quarantine by server admins: the media answers 404 everywhere, its bytes are kept.
    userRoute('GET', `${ADMIN}/:serverName/:mediaId`, async ({ requester, params }) => {
      adminOnly(requester.isAdmin);
      const row = await media.info(params.serverName!, params.mediaId!);
      if (row.user_id !== requester.userId) await recordAudit(s.db, s.log, { actor: requester.userId, action: 'media.read', target_user: row.user_id, details: { media_id: row.media_id } });
      return {
        content_uri: media.mxc(row.media_id),
        user_id: row.user_id,
        content_type: row.content_type,
        upload_name: row.upload_name,
        size: row.size,
        sha256: row.sha256,
        created_ts: row.created_ts,
        uploaded_ts: row.uploaded_ts,
        quarantined: row.quarantined_ts !== null,
        quarantined_ts: row.quarantined_ts,
        quarantined_by: row.quarantined_by,
      };
    }),
    userRoute('POST', `${ADMIN}/:serverName/:mediaId/quarantine`, async ({ requester, params }) => {
      adminOnly(requester.isAdmin);
      return { quarantined: await media.quarantine(requester.userId, params.serverName!, params.mediaId!) };
    }),
    userRoute('DELETE', `${ADMIN}/:serverName/:mediaId/quarantine`, async ({ requester, params }) => {
      adminOnly(requester.isAdmin);
      return { released: await media.unquarantine(requester.userId, params.serverName!, params.mediaId!) };
    }),
  ];
}
