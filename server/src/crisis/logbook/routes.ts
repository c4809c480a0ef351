import { leanHeaders } from '../../http/lean-headers.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { logbookCsv } from './logbook-csv.ts';
import { logbookHtml } from './logbook-html.ts';
import { parseLogbookQuery } from './logbook-query.ts';
import { LogbookService } from './logbook-service.ts';
import { logbookWords } from './logbook-words.ts';

const V1 = '/_tocsin/v1';

/** A file name from a room id: only characters that are safe in a header and on every disk. */
function fileName(roomId: string, ext: string): string {
  return `logbook-${roomId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 60)}.${ext}`;
}

export function logbookRoutes(s: Services): RouteDef[] {
  const logbook = new LogbookService(s.db, s.reader);
  return [
    // The log book of a crisis room: JSON for the app, CSV and printable HTML as downloads.
    userRoute('GET', `${V1}/rooms/:roomId/logbook`, async ({ requester, params, query, res }) => {
      const q = parseLogbookQuery(query);
      const book = await logbook.read(requester.userId, params.roomId!, q.filter);
      if (q.format === 'json') {
        const entries = book.entries.slice(-q.limit);
        return { ...book, entries, limited: entries.length < book.entries.length };
      }
      const w = logbookWords(q.lang);
      res.setHeader('Cache-Control', 'no-store');
      if (q.format === 'csv') {
        res.setHeader('Content-Disposition', `attachment; filename="${fileName(book.room_id, 'csv')}"`);
        res.status(200).type('text/csv; charset=utf-8').send(logbookCsv(book, q.timeZone, w, q.delimiter));
        return;
      }
      leanHeaders(res, 'page');
      // Opened from a download: its own style only, no script, nothing fetched.
      res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
      res.setHeader('Content-Disposition', `attachment; filename="${fileName(book.room_id, 'html')}"`);
      res
        .status(200)
        .type('text/html; charset=utf-8')
        .send(logbookHtml(book, { exportedBy: requester.userId, exportedAt: Date.now(), timeZone: q.timeZone, lang: q.lang, filter: q.filter }, w));
    }),
  ];
}
