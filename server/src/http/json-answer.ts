import type { Express, Response } from 'express';

// Every JSON answer goes out as `Content-Type: application/json`, without Express's
// `; charset=utf-8`: JSON has no charset parameter (RFC 8259, section 11: it is UTF-8), Synapse
// sends the bare type, and clients compare it as a string. Hydrogen reads the answer of an
// upload (sent through XMLHttpRequest, for its progress bar) only when the header is exactly
// `application/json`; with the charset it lost the content_uri and no picture could be sent.
export function bareJsonContentType(app: Express): void {
  app.response.json = function json(this: Response, body: unknown): Response {
    // setHeader, not res.set(), which appends the charset again (through mime-types).
    if (!this.get('Content-Type')) this.setHeader('Content-Type', 'application/json');
    const text = JSON.stringify(body);
    // A Buffer, because res.send() appends a charset to the type of any string body.
    return this.send(text === undefined ? Buffer.alloc(0) : Buffer.from(text, 'utf8'));
  };
}
