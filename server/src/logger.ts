import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; secrets never reach them (redacted paths below). */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'tocsin' },
    redact: {
      paths: ['req.headers.authorization', 'password', '*.password', 'access_token', '*.access_token'],
      censor: '[redacted]',
    },
  });
}
