import { readFileSync } from 'node:fs';
import type { Config } from '../config/config.ts';

/**
 * Commands that act on a running server go through its HTTP API (an embedded database has one
 * owner). The server is TOCSIN_URL (default http://127.0.0.1:PORT); the access token comes from
 * --token-file or TOCSIN_TOKEN.
 */
export interface Remote {
  call<T = any>(method: string, path: string, body?: unknown): Promise<T>;
}

export function remote(config: Config, tokenFile: string | undefined): Remote {
  const base = (process.env.TOCSIN_URL ?? `http://127.0.0.1:${config.port}`).replace(/\/+$/, '');
  const token = tokenFile ? readFileSync(tokenFile, 'utf8').trim() : process.env.TOCSIN_TOKEN;
  if (!token) throw new Error('an access token is needed: --token-file FILE or TOCSIN_TOKEN');
  return {
    async call(method, path, body) {
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        throw new Error(`cannot reach the server at ${base} (${(err as Error).cause ?? (err as Error).message})`);
      }
      const text = await res.text();
      let parsed: any;
      try {
        parsed = text ? JSON.parse(text) : {};
      } catch {
        throw new Error(`${method} ${path}: HTTP ${res.status}, not JSON`);
      }
      if (!res.ok) throw new Error(`${parsed.errcode ?? `HTTP ${res.status}`}: ${parsed.error ?? text.slice(0, 200)}`);
      return parsed;
    },
  };
}
