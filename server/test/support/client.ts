/** A small Matrix HTTP client for tests: raw requests with status and JSON body. */
export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export class Api {
  readonly baseUrl: string;
  readonly token: string | undefined;

  constructor(baseUrl: string, token?: string) {
    this.baseUrl = baseUrl;
    this.token = token;
  }

  as(token: string | undefined): Api {
    return new Api(this.baseUrl, token);
  }

  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // left as text: tests assert that errors are JSON
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = any>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = any>(path: string, body: unknown = {}) {
    return this.request<T>('POST', path, body);
  }
  put<T = any>(path: string, body: unknown = {}) {
    return this.request<T>('PUT', path, body);
  }
  delete<T = any>(path: string, body?: unknown) {
    return this.request<T>('DELETE', path, body);
  }
}

export interface TestUser {
  userId: string;
  token: string;
  deviceId: string;
  api: Api;
  password: string;
}

let counter = 0;

/** Registers a fresh user through open registration (m.login.dummy). */
export async function registerUser(baseUrl: string, name?: string, password = 'correct horse battery staple'): Promise<TestUser> {
  const localpart = name ?? `user${process.pid}x${++counter}x${Math.random().toString(36).slice(2, 7)}`;
  const api = new Api(baseUrl);
  const res = await api.post('/_matrix/client/v3/register', { username: localpart, password, auth: { type: 'm.login.dummy' } });
  if (res.status !== 200) throw new Error(`register ${localpart}: ${res.status} ${JSON.stringify(res.body)}`);
  return { userId: res.body.user_id, token: res.body.access_token, deviceId: res.body.device_id, api: api.as(res.body.access_token), password };
}

export const enc = encodeURIComponent;

/** Registers a server administrator through Synapse-style shared-secret registration. */
export async function registerAdmin(baseUrl: string, name: string, secret = 'test-shared-secret', password = 'admin password'): Promise<TestUser> {
  const { createHmac } = await import('node:crypto');
  const api = new Api(baseUrl);
  const { nonce } = (await api.get('/_synapse/admin/v1/register')).body as { nonce: string };
  const mac = createHmac('sha1', secret).update(`${nonce}\0${name}\0${password}\0admin`).digest('hex');
  const res = await api.post('/_synapse/admin/v1/register', { nonce, username: name, password, admin: true, mac });
  if (res.status !== 200) throw new Error(`admin register ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return { userId: res.body.user_id, token: res.body.access_token, deviceId: res.body.device_id, api: api.as(res.body.access_token), password };
}

/** Polls `check` until it returns a value (tests wait for states, never for durations). */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, attempts = 200, everyMs = 100): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`never happened: ${what}`);
}
