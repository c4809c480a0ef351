import { isoInZone } from './logbook-time.ts';
import type { Logbook } from './logbook-service.ts';
import type { LogbookWords } from './logbook-words.ts';

// CSV (RFC 4180) for spreadsheets. Every text typed by a person is an attack surface once a
// spreadsheet opens it: a cell starting with = + - @ (or a tab or CR, which some apps strip
// before looking) is a formula to Excel and LibreOffice (CSV injection). Such cells get a
// leading apostrophe, the usual neutraliser, which the spreadsheet shows as plain text.

const FORMULA_START = /^[\s]*[=+\-@\t\r]/;

export function csvCell(value: string, delimiter: ',' | ';', untrusted = true): string {
  let v = value;
  if (untrusted && FORMULA_START.test(v)) v = `'${v}`;
  return v.includes('"') || v.includes(delimiter) || v.includes('\n') || v.includes('\r') || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
}

export function logbookCsv(book: Logbook, timeZone: string, w: LogbookWords, delimiter: ',' | ';'): string {
  const row = (cells: Array<[string, boolean]>) => cells.map(([v, untrusted]) => csvCell(v, delimiter, untrusted)).join(delimiter);
  const lines = [row([[w.at, false], [w.recorded, false], [w.author, false], [w.authorName, false], [w.tag, false], [w.text, false], [w.eventId, false]])];
  for (const e of book.entries) {
    lines.push(
      row([
        [isoInZone(e.at, timeZone), false],
        [isoInZone(e.recorded_at, timeZone), false],
        // A user id's localpart is the user's choice too: checked like any text.
        [e.author, true],
        [e.author_name ?? '', true],
        [e.tag ?? '', true],
        [e.text, true],
        [e.event_id, true],
      ]),
    );
  }
  // The byte-order mark makes Excel read UTF-8 (accents) instead of the local code page.
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}
