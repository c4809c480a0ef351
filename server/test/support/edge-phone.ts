import { Agent, fetch } from 'undici';

// A manager's phone on the emulated EDGE link (edge-link.ts): plain fetch through its own
// keep-alive connection pool, asking for gzip, speaking to the link's address instead of the
// server's. What the PWA does on a bad link: long-poll the compact alert feed, acknowledge.

export interface FeedFrame {
  id: string;
  sev: string;
  title: string;
  body: string;
  ts: number;
  ack?: number;
  state?: string;
  [key: string]: unknown;
}

export interface FeedAnswer {
  next: string;
  alerts: FeedFrame[];
}

export interface Follower {
  /** The feed token the phone will poll from next. */
  next: string | undefined;
  /** Long-polls answered, and long-polls that failed (the link was lost). */
  polls: number;
  failures: number;
  stop(): Promise<void>;
}

export class EdgePhone {
  readonly baseUrl: string;
  readonly token: string | undefined;
  readonly agent: Agent;

  constructor(baseUrl: string, token?: string) {
    this.baseUrl = baseUrl;
    this.token = token;
    // Connections stay open between alerts (a new one costs a round trip on the link); the
    // long-poll may wait up to two minutes for an answer.
    this.agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, headersTimeout: 0, bodyTimeout: 0 });
  }

  async request(method: string, path: string, init: { body?: string; headers?: Record<string, string>; signal?: AbortSignal } = {}) {
    const headers: Record<string, string> = { 'accept-encoding': 'gzip', ...init.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(init.body !== undefined ? { body: init.body } : {}),
      dispatcher: this.agent,
      ...(init.signal ? { signal: init.signal } : {}),
    });
    const text = await res.text();
    return { status: res.status, text, headers: res.headers, json: <T = any>() => JSON.parse(text) as T };
  }

  /** One long-poll of the alert feed (`since` undefined: the current alerts and a token). */
  async poll(since: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<FeedAnswer> {
    const q = new URLSearchParams({ timeout: String(timeoutMs) });
    if (since !== undefined) q.set('since', since);
    const res = await this.request('GET', `/_tocsin/v1/feed?${q}`, signal ? { signal } : {});
    if (res.status !== 200) throw new Error(`feed: ${res.status} ${res.text.slice(0, 200)}`);
    return res.json<FeedAnswer>();
  }

  /** The app's acknowledgement (no body: nothing to send but the request line and token). */
  async ack(alertId: string): Promise<{ acknowledged: boolean; first: boolean }> {
    const res = await this.request('POST', `/_tocsin/v1/alerts/${encodeURIComponent(alertId)}/ack`);
    if (res.status !== 200) throw new Error(`ack: ${res.status} ${res.text.slice(0, 200)}`);
    return res.json();
  }

  /**
   * Follows the feed as the app does: long-polls from `since`, polls again as soon as an
   * answer lands, and after a lost link retries with the last token it holds, so it gets
   * whatever it missed. `onFrame` sees every frame as it arrives.
   */
  follow(since: string | undefined, onFrame: (frame: FeedFrame) => void, options: { timeoutMs?: number; retryMs?: number } = {}): Follower {
    const stop = new AbortController();
    const follower: Follower = {
      next: since,
      polls: 0,
      failures: 0,
      stop: async () => {
        stop.abort();
        await done;
      },
    };
    const done = (async () => {
      while (!stop.signal.aborted) {
        try {
          const answer = await this.poll(follower.next, options.timeoutMs ?? 60_000, stop.signal);
          follower.polls++;
          follower.next = answer.next;
          for (const frame of answer.alerts) onFrame(frame);
        } catch {
          if (stop.signal.aborted) break;
          follower.failures++;
          await new Promise((r) => setTimeout(r, options.retryMs ?? 500));
        }
      }
    })();
    return follower;
  }

  async close(): Promise<void> {
    await this.agent.destroy().catch(() => undefined);
  }
}
