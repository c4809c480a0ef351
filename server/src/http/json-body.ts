import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { badJson, notJson, tooLarge } from '../errors.ts';

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
      const bad = unstorableString(parsed);
      if (bad) return next(badJson(`JSON may not contain ${bad}.`));
      req.body = parsed;
      next();
    });
  };
}

// A lone surrogate has no UTF-8 form (canonical JSON refuses it), PostgreSQL's jsonb refuses
// \u0000, and recursive encoders (canonical JSON, signing) overflow the stack on absurd
// nesting: each would fail deep in a handler, so all three are refused at the door.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
export const MAX_JSON_DEPTH = 128;

/** What makes `value` unstorable (a string or key, or its nesting), if anything. */
function unstorableString(value: unknown): string | undefined {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\0')) return 'NUL characters';
      if (LONE_SURROGATE.test(v)) return 'lone surrogates';
    } else if (v !== null && typeof v === 'object') {
      if (depth >= MAX_JSON_DEPTH) return `nesting deeper than ${MAX_JSON_DEPTH} levels`;
      if (Array.isArray(v)) for (const item of v) stack.push([item, depth + 1]);
      else for (const [k, item] of Object.entries(v)) stack.push([k, depth], [item, depth + 1]);
    }
  }
  return undefined;
}
