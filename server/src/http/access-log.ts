import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../logger.ts';

/**
 * One structured line per request at debug level (method, path without the query, which may
 * carry an access token, status, duration); server errors are always logged.
 */
export function accessLog(log: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const status = res.statusCode;
      if (status < 500 && !log.isLevelEnabled('debug')) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const entry = { method: req.method, path: req.path, status, ms: Math.round(ms * 10) / 10 };
      if (status >= 500) log.error(entry, 'request');
      else log.debug(entry, 'request');
    });
    next();
  };
}
