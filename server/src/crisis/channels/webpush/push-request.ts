import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

// One POST to a push service through undici's dispatcher, with a handler that keeps the
// status and the two headers web push needs and drops the body. undici's request() wraps each
// response in a Readable stream and its promise machinery; in a fan-out to thousands that was
// a good part of the main thread's work and garbage per message, for a body nobody reads.

export interface PushResponse {
  status: number;
  location: string | undefined;
  retryAfter: string | undefined;
}

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? v[0] : undefined;
};

export function postPush(dispatcher: Dispatcher, url: URL, headers: Record<string, string>, body: Buffer, timeoutMs: number): Promise<PushResponse> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let responseHeaders: IncomingHttpHeaders = {};
    dispatcher.dispatch(
      { origin: url.origin, path: `${url.pathname}${url.search}`, method: 'POST', headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs },
      {
        onRequestStart() {
          // Nothing to set up: the controller is not needed (no abort, no pause).
        },
        onResponseStart(_controller, statusCode, h) {
          status = statusCode;
          responseHeaders = h;
        },
        onResponseData() {
          // The body (usually empty) is not needed.
        },
        onResponseEnd() {
          resolve({ status, location: header(responseHeaders, 'location'), retryAfter: header(responseHeaders, 'retry-after') });
        },
        onResponseError(_controller, err) {
          reject(err);
        },
      },
    );
  });
}
