import { invalidParam } from '../../errors.ts';
import { TAG_PATTERN, normaliseTag } from './logbook-entry.ts';

// The query string of GET /_tocsin/v1/rooms/{roomId}/logbook, checked before anything is read:
// a wrong value is a 400 M_INVALID_PARAM naming the parameter, never a 500.

export type LogbookFormat = 'json' | 'csv' | 'html';

export interface LogbookFilter {
  /** Inclusive bounds on the entry's time (occurred_at, or the recording time), ms. */
  from?: number | undefined;
  to?: number | undefined;
  author?: string | undefined;
  tag?: string | undefined;
  /** Words the text must hold, case-insensitive. */
  q?: string | undefined;
}

export interface LogbookQuery {
  format: LogbookFormat;
  filter: LogbookFilter;
  timeZone: string;
  lang: 'fr' | 'en';
  delimiter: ',' | ';';
  limit: number;
}

const USER_ID = /^@[^:\s]{1,255}:[^\s]{1,255}$/;
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

function time(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^\d{1,15}$/.test(v)) return Number(v);
  if (ISO.test(v)) {
    const ms = Date.parse(v);
    if (Number.isFinite(ms)) return ms;
  }
  throw invalidParam(`${name}: a time in ms since the epoch or ISO 8601 (2026-11-25T14:30:00Z).`);
}

export function validTimeZone(tz: string): boolean {
  if (tz.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function parseLogbookQuery(query: Record<string, string | undefined>): LogbookQuery {
  const format = query.format ?? 'json';
  if (format !== 'json' && format !== 'csv' && format !== 'html') throw invalidParam('format: json, csv or html.');
  const from = time('from', query.from);
  const to = time('to', query.to);
  if (from !== undefined && to !== undefined && from > to) throw invalidParam('from is after to.');
  const author = query.author || undefined;
  if (author !== undefined && !USER_ID.test(author)) throw invalidParam('author: a user id (@name:server).');
  const tag = normaliseTag(query.tag);
  if (tag !== undefined && !TAG_PATTERN.test(tag)) throw invalidParam('tag: 1-32 letters, digits, - or _.');
  const q = query.q?.trim() || undefined;
  if (q !== undefined && q.length > 200) throw invalidParam('q: at most 200 characters.');
  const timeZone = query.tz || 'UTC';
  if (!validTimeZone(timeZone)) throw invalidParam('tz: an IANA time zone (Europe/Paris).');
  const lang = query.lang ?? 'en';
  if (lang !== 'fr' && lang !== 'en') throw invalidParam('lang: fr or en.');
  const delimiter = query.delimiter ?? 'comma';
  if (delimiter !== 'comma' && delimiter !== 'semicolon') throw invalidParam('delimiter: comma or semicolon.');
  let limit = 500;
  if (query.limit !== undefined) {
    if (!/^\d{1,6}$/.test(query.limit) || Number(query.limit) < 1) throw invalidParam('limit: a positive integer.');
    limit = Math.min(Number(query.limit), 5000);
  }
  return { format, filter: { from, to, author, tag, q }, timeZone, lang, delimiter: delimiter === 'comma' ? ',' : ';', limit };
}
