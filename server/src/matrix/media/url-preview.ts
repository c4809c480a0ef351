import { Parser } from 'htmlparser2';
import { Agent, request, type Dispatcher } from 'undici';
import { OutboundGuard, OutboundRefusedError } from '../../crisis/channels/outbound-guard.ts';

// URL previews: the server fetches a page a user pasted, on that user's behalf. That makes it
// an SSRF vector into the institution's network, so every connection (each redirect too) goes
// through the outbound guard (private ranges refused unless listed in outbound_allow_ranges),
// and each fetch is bounded in time, bytes and redirects.

export interface FetchLimits {
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
}

export interface Fetched {
  url: URL;
  contentType: string;
  body: Buffer;
}

export class PreviewRefusedError extends Error {}
export class PreviewFailedError extends Error {}

export class PreviewFetcher {
  readonly #guard: OutboundGuard;
  readonly #agent: Dispatcher;

  constructor(allowRanges: readonly string[]) {
    this.#guard = new OutboundGuard(allowRanges);
    this.#agent = new Agent({ connections: 8, connect: { lookup: this.#guard.lookup, timeout: 5_000 } });
  }

  /** GETs `url` (http or https), following redirects, reading at most `maxBytes`. */
  async fetch(url: URL, limits: FetchLimits, accept: string): Promise<Fetched> {
    const signal = AbortSignal.timeout(limits.timeoutMs);
    let current = url;
    for (let hop = 0; ; hop++) {
      if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new PreviewRefusedError(`${current.protocol} URLs are not previewed`);
      try {
        this.#guard.checkHost(current.hostname);
      } catch (err) {
        throw new PreviewRefusedError((err as Error).message);
      }
      let response: Dispatcher.ResponseData;
      try {
        response = await request(current, {
          method: 'GET',
          dispatcher: this.#agent,
          signal,
          headers: { accept, 'user-agent': 'Tocsin (URL preview)', 'accept-language': 'fr, en;q=0.8' },
        });
      } catch (err) {
        const e = err as Error & { code?: string; cause?: { code?: string } };
        if (e instanceof OutboundRefusedError || e.code === 'EOUTBOUNDREFUSED' || e.cause?.code === 'EOUTBOUNDREFUSED') {
          throw new PreviewRefusedError(e.message);
        }
        throw new PreviewFailedError(`${current.host} unreachable (${e.code ?? e.name})`);
      }
      const status = response.statusCode;
      if (status >= 300 && status < 400 && typeof response.headers.location === 'string') {
        await response.body.dump();
        if (hop >= limits.maxRedirects) throw new PreviewFailedError('too many redirects');
        try {
          current = new URL(response.headers.location, current);
        } catch {
          throw new PreviewFailedError('bad redirect');
        }
        continue;
      }
      if (status < 200 || status >= 300) {
        await response.body.dump();
        throw new PreviewFailedError(`${current.host} answered ${status}`);
      }
      const contentType = String(response.headers['content-type'] ?? 'application/octet-stream');
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > limits.maxBytes) {
        response.body.destroy();
        throw new PreviewFailedError('content too large');
      }
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of response.body) {
          size += (chunk as Buffer).length;
          if (size > limits.maxBytes) {
            response.body.destroy();
            throw new PreviewFailedError('content too large');
          }
          chunks.push(chunk as Buffer);
        }
      } catch (err) {
        if (err instanceof PreviewFailedError) throw err;
        throw new PreviewFailedError(`reading ${current.host} failed (${(err as Error).name})`);
      }
      return { url: current, contentType, body: Buffer.concat(chunks) };
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/** OpenGraph data of a page, with <title> and the description meta as fallbacks. */
export function parseOpenGraph(html: string, pageUrl: URL): Record<string, string> {
  const og: Record<string, string> = {};
  let title = '';
  let inTitle = false;
  let description: string | undefined;
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (name === 'title') inTitle = true;
        if (name !== 'meta') return;
        const key = (attribs.property ?? attribs.name ?? '').trim().toLowerCase();
        const content = attribs.content;
        if (content === undefined) return;
        if (key.startsWith('og:') && key.length <= 64 && !(key in og)) og[key] = content;
        if (key === 'description' && description === undefined) description = content;
      },
      ontext(text) {
        if (inTitle && title.length < 1000) title += text;
      },
      onclosetag(name) {
        if (name === 'title') inTitle = false;
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  if (!og['og:title'] && title.trim()) og['og:title'] = title.trim();
  if (!og['og:description'] && description) og['og:description'] = description;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(og)) {
    const v = value.replace(/\s+/g, ' ').trim().slice(0, 1000);
    if (v) out[key] = v;
  }
  // A relative image is relative to the page; anything but http(s) is dropped.
  if (out['og:image']) {
    try {
      const image = new URL(out['og:image'], pageUrl);
      if (image.protocol === 'http:' || image.protocol === 'https:') out['og:image'] = image.toString();
      else delete out['og:image'];
    } catch {
      delete out['og:image'];
    }
  }
  return out;
}

/** The charset a Content-Type names, if Node can decode it; else UTF-8. */
export function decodeText(body: Buffer, contentType: string): string {
  const charset = /charset="?([\w-]+)"?/i.exec(contentType)?.[1];
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}
