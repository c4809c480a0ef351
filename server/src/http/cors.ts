import type { NextFunction, Request, Response } from 'express';

// The client-server spec asks for these exact permissive headers: browser clients (Element,
// Hydrogen, the PWA) run on other origins and authenticate with a bearer token, not cookies.
export function matrixCors(req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', 'X-Requested-With, Content-Type, Authorization');
  if (req.method === 'OPTIONS') {
    res.status(204).end();
    return;
  }
  next();
}
