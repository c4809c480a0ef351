// A log book (main courante) entry as a Matrix event, shared by the server (list, exports) and
// the PWA (which sends it): no Node imports here.
//
// An entry is an `m.room.message` whose msgtype is `org.tocsin.logbook.entry`: the spec asks
// clients to show the plain `body` of a msgtype they do not know, so Element and other stock
// clients show the entry in the room's timeline, while Tocsin reads the structured fields kept
// under `org.tocsin.logbook`. The author is the event's sender and the recording time its
// origin_server_ts; neither can be claimed in the content.

export const LOGBOOK_MSGTYPE = 'org.tocsin.logbook.entry';
export const LOGBOOK_KEY = 'org.tocsin.logbook';
export const MAX_TEXT = 4000;
export const MAX_TAG = 32;
/** Letters (any script), digits, `-` and `_`: a tag is a word, never markup or a formula. */
export const TAG_PATTERN = /^[\p{L}\p{N}_-]{1,32}$/u;

/** An entry as the log book API lists it (JSON answer) and the PWA shows it. */
export interface LogbookEntry {
  event_id: string;
  author: string;
  author_name: string | null;
  text: string;
  tag: string | null;
  /** When it happened: occurred_at when the author gave one, else when it was recorded. */
  at: number;
  occurred_at: number | null;
  recorded_at: number;
}

export interface LogbookFields {
  text: string;
  tag?: string | undefined;
  /** When what is logged happened (ms since the epoch), when it differs from the sending time. */
  occurred_at?: number | undefined;
}

/** A tag as stored: trimmed, lower case; undefined when empty. */
export function normaliseTag(tag: string | undefined): string | undefined {
  const t = (tag ?? '').trim().toLocaleLowerCase();
  return t === '' ? undefined : t;
}

/** The event content for an entry; `when` is how the sender's app writes occurred_at in the body. */
export function logbookContent(fields: LogbookFields, when?: string): Record<string, unknown> {
  const tag = normaliseTag(fields.tag);
  const structured: Record<string, unknown> = { text: fields.text };
  if (tag) structured.tag = tag;
  if (fields.occurred_at !== undefined) structured.occurred_at = fields.occurred_at;
  const body = `📒 ${tag ? `[${tag}] ` : ''}${when ? `(${when}) ` : ''}${fields.text}`;
  return { msgtype: LOGBOOK_MSGTYPE, body, [LOGBOOK_KEY]: structured };
}

/**
 * Reads an entry back from any event content, defensively: stock clients and hostile senders
 * may put anything there. The text falls back to `body` (an entry typed in another client);
 * a tag or time of the wrong shape is dropped rather than trusted.
 */
export function parseLogbookContent(content: Record<string, unknown>): LogbookFields | undefined {
  if (content.msgtype !== LOGBOOK_MSGTYPE) return undefined;
  const raw = content[LOGBOOK_KEY];
  const s = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const text = typeof s.text === 'string' ? s.text : typeof content.body === 'string' ? content.body : undefined;
  if (text === undefined || text.trim() === '') return undefined;
  const tag = typeof s.tag === 'string' ? normaliseTag(s.tag) : undefined;
  const occurred = s.occurred_at;
  return {
    text: text.slice(0, MAX_TEXT),
    tag: tag !== undefined && TAG_PATTERN.test(tag) ? tag : undefined,
    occurred_at: typeof occurred === 'number' && Number.isSafeInteger(occurred) && occurred > 0 ? occurred : undefined,
  };
}
