import type { NextFunction, Request, Response } from 'express';
import { ZodError } from 'zod';
import { MatrixError, badJson, invalidParam, unrecognized } from '../errors.ts';
import type { Logger } from '../logger.ts';

/**
 * An API under its own path prefix whose clients expect another error shape (SCIM, RFC 7644
 * §3.12): errors raised before its handler runs (unreadable JSON, a body too large, a NUL in
 * a parameter) are written in that shape too.
 */
export interface ErrorFormat {
  prefix: string;
  contentType: string;
  body(error: MatrixError): Record<string, unknown>;
}

/** Turns whatever a handler threw into a Matrix error body. Unknown errors are logged, never leaked. */
export function errorHandler(log: Logger, formats: ErrorFormat[] = []) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let error: MatrixError;
    if (err instanceof MatrixError) {
      error = err;
    } else if (err instanceof ZodError) {
      const issue = err.issues[0];
      error = badJson(issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'Invalid body.');
    } else if ((err as { type?: string })?.type === 'entity.parse.failed') {
      error = badJson('Invalid JSON.');
    } else if (err instanceof URIError) {
      // The router could not percent-decode a path parameter (`%ZZ`, broken UTF-8).
      error = invalidParam('Malformed percent-encoding in the path.');
    } else if ((err as { code?: string })?.code === 'ERR_HTTP_HEADERS_SENT') {
      return;
    } else {
      log.error({ err, method: req.method, url: req.originalUrl.split('?')[0] }, 'request failed');
      error = new MatrixError(500, 'M_UNKNOWN', 'Internal server error.');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    if (error.status === 429 && typeof error.extra.retry_after_ms === 'number') {
      res.setHeader('Retry-After', String(Math.ceil(error.extra.retry_after_ms / 1000)));
    }
    const format = formats.find((f) => req.path.startsWith(f.prefix));
    if (format) {
      res.status(error.status).type(format.contentType).send(JSON.stringify(format.body(error)));
      return;
    }
    res.status(error.status).json(error.body());
  };
}

export function notFoundHandler(_req: Request, res: Response): void {
  res.status(404).json(unrecognized(404).body());
}
