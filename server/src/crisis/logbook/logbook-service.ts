import type { Knex } from 'knex';
import type { TimelineReader } from '../../matrix/timeline/read.ts';
import { parseLogbookContent, type LogbookEntry } from './logbook-entry.ts';
import type { LogbookFilter } from './logbook-query.ts';
import * as repo from './logbook-repository.ts';

/** More than any crisis keeps by hand; past it the answer says `truncated`. */
export const MAX_ENTRIES = 20_000;


export interface Logbook {
  room_id: string;
  room_name: string | null;
  entries: LogbookEntry[];
  /** Entries matching the filter (before a JSON answer's limit). */
  total: number;
  truncated: boolean;
}

/**
 * The log book of a crisis room as one reader may see it: the room's history visibility
 * applies to every entry (someone who joined later, or left, sees what the timeline would show
 * them), and a user outside the room gets M_FORBIDDEN, as /messages does.
 */
export class LogbookService {
  readonly #db: Knex;
  readonly #reader: TimelineReader;

  constructor(db: Knex, reader: TimelineReader) {
    this.#db = db;
    this.#reader = reader;
  }

  async read(userId: string, roomId: string, filter: LogbookFilter): Promise<Logbook> {
    const access = await this.#reader.access(userId, roomId);
    const events = await repo.logbookEvents(this.#db, roomId, access.upTo, MAX_ENTRIES + 1);
    const truncated = events.length > MAX_ENTRIES;
    const q = filter.q?.toLocaleLowerCase();
    const entries: Array<LogbookEntry & { pos: number }> = [];
    for (const e of events.slice(0, MAX_ENTRIES)) {
      if (e.redactedBy !== null || !access.rules.canSee(e)) continue;
      const fields = parseLogbookContent(e.pdu.content);
      if (!fields) continue;
      const at = fields.occurred_at ?? e.pdu.origin_server_ts;
      if (filter.from !== undefined && at < filter.from) continue;
      if (filter.to !== undefined && at > filter.to) continue;
      if (filter.author !== undefined && e.pdu.sender !== filter.author) continue;
      if (filter.tag !== undefined && fields.tag !== filter.tag) continue;
      if (q !== undefined && !fields.text.toLocaleLowerCase().includes(q)) continue;
      entries.push({
        pos: e.streamPos,
        event_id: e.pdu.event_id,
        author: e.pdu.sender,
        author_name: null,
        text: fields.text,
        tag: fields.tag ?? null,
        at,
        occurred_at: fields.occurred_at ?? null,
        recorded_at: e.pdu.origin_server_ts,
      });
    }
    // In the order things happened; entries of the same moment in the order they were recorded.
    entries.sort((a, b) => a.at - b.at || a.pos - b.pos);
    const names = await repo.displayNamesAt(this.#db, roomId, [...new Set(entries.map((e) => e.author))], access.upTo);
    return {
      room_id: roomId,
      room_name: (await repo.roomNameAt(this.#db, roomId, access.upTo)) ?? null,
      entries: entries.map(({ pos: _pos, ...e }) => ({ ...e, author_name: names.get(e.author) ?? null })),
      total: entries.length,
      truncated,
    };
  }
}
