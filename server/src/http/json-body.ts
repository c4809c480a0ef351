import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { notJson, tooLarge } from '../errors.ts';

/**
 * Reads the body as bytes whatever the Content-Type (clients and scripts often omit it), then
 * parses JSON: the Matrix API speaks only JSON objects. Size over the limit is M_TOO_LARGE.
 */
export function jsonBody(limitBytes: number) {
  const raw = express.raw({ type: () => true, limit: limitBytes });
  return (req: Request, res: Response, next: NextFunction) => {
    raw(req, res, (err?: unknown) => {
      if (err) {
        const e = err as { type?: string; status?: number };
        if (e.type === 'entity.too.large') return next(tooLarge(`Request body over ${limitBytes} bytes.`));
        if (e.type === 'request.aborted') return; // client went away: nothing to answer
        return next(notJson(`Unreadable body: ${(err as Error).message}`));
      }
      const buf = req.body as unknown;
      if (!Buffer.isBuffer(buf) || buf.length === 0) {
        req.body = undefined;
        return next();
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(buf.toString('utf8'));
      } catch {
        return next(notJson('Content not JSON.'));
      }
      req.body = parsed;
      next();
    });
  };
}
