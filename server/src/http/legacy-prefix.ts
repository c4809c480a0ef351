import type { NextFunction, Request, Response } from 'express';

// Clients written against the r0 API still call `/_matrix/client/r0/...` and
// `/_matrix/media/r0/...`: Hydrogen does for every call (login, sync, send, upload). Spec v1.1
// renamed the r0 endpoints to v3 without changing them, and homeservers keep answering the old
// prefix, so an r0 request is served by its v3 route. Nothing else is rewritten.
const R0 = /^\/_matrix\/(client|media)\/r0(?=[/?]|$)/;

export function legacyR0Prefix(req: Request, _res: Response, next: NextFunction): void {
  if (R0.test(req.url)) req.url = req.url.replace(R0, '/_matrix/$1/v3');
  next();
}
