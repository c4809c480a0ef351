import { loadSession } from './session.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly errcode: string;
  constructor(status: number, errcode: string, message: string) {
    super(message);
    this.status = status;
    this.errcode = errcode;
  }
}

/** Called once when the server says the token is gone (logged out elsewhere, device deleted). */
let onUnknownToken: () => void = () => undefined;
export function setUnknownTokenHandler(f: () => void): void {
  onUnknownToken = f;
}

/**
 * A JSON request to the server of this origin. Network failures throw a TypeError (offline);
 * Matrix errors throw ApiError with the errcode.
 */
export async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, options: { signal?: AbortSignal; token?: string | null } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = options.token === undefined ? loadSession()?.token : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: options.signal, cache: 'no-store' });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // a proxy's HTML error page: reported by status below
  }
  if (!res.ok) {
    const errcode = typeof json.errcode === 'string' ? json.errcode : 'M_UNKNOWN';
    if (errcode === 'M_UNKNOWN_TOKEN' && token) onUnknownToken();
    throw new ApiError(res.status, errcode, typeof json.error === 'string' ? json.error : `HTTP ${res.status}`);
  }
  return json as T;
}

export const V1 = '/_tocsin/v1';
