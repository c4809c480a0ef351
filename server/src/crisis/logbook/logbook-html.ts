import type { LogbookFilter } from './logbook-query.ts';
import type { Logbook } from './logbook-service.ts';
import { readableInZone } from './logbook-time.ts';
import type { LogbookWords } from './logbook-words.ts';

// A printable, self-contained page: no script, no link to anything, its style inline (the
// answer's CSP allows only that). Every text from the room is escaped.

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
body{font:11pt/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;margin:1.5rem}
h1{font-size:16pt;margin:0 0 .25rem}
.meta{color:#444;margin:.1rem 0}
table{border-collapse:collapse;width:100%;margin-top:1rem}
th,td{border:1px solid #999;padding:.3rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}
td.text{white-space:pre-wrap;overflow-wrap:anywhere}
td.when{white-space:nowrap}
.tag{font-weight:600;text-transform:uppercase;font-size:9pt}
.warn{color:#8a1c00;font-weight:600}
@page{size:A4;margin:15mm}
@media print{body{margin:0}thead{display:table-header-group}tr{break-inside:avoid}}
`;

export interface HtmlExportContext {
  exportedBy: string;
  exportedAt: number;
  timeZone: string;
  lang: 'fr' | 'en';
  filter: LogbookFilter;
}

function describeFilter(f: LogbookFilter, w: LogbookWords, tz: string): string {
  const parts: string[] = [];
  if (f.from !== undefined) parts.push(`${w.from} ${readableInZone(f.from, tz)}`);
  if (f.to !== undefined) parts.push(`${w.to} ${readableInZone(f.to, tz)}`);
  if (f.author !== undefined) parts.push(`${w.author.toLowerCase()} ${f.author}`);
  if (f.tag !== undefined) parts.push(`${w.tag.toLowerCase()} ${f.tag}`);
  if (f.q !== undefined) parts.push(`${w.search} ${w.quote(f.q)}`);
  return parts.length > 0 ? parts.join(' · ') : w.none;
}

export function logbookHtml(book: Logbook, ctx: HtmlExportContext, w: LogbookWords): string {
  const e = escapeHtml;
  const room = book.room_name ?? book.room_id;
  const rows = book.entries
    .map((x) => {
      const recorded = x.occurred_at !== null ? `<br><small>${e(w.recorded)} ${e(readableInZone(x.recorded_at, ctx.timeZone))}</small>` : '';
      const who = x.author_name ? `${e(x.author_name)}<br><small>${e(x.author)}</small>` : e(x.author);
      return `<tr><td class="when">${e(readableInZone(x.at, ctx.timeZone))}${recorded}</td><td>${who}</td><td class="tag">${e(x.tag ?? '')}</td><td class="text">${e(x.text)}</td></tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="${ctx.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(w.title)} · ${e(room)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${e(w.title)} · ${e(room)}</h1>
<p class="meta">${e(w.room)}${w.colon}${e(book.room_id)}</p>
<p class="meta">${e(w.exportedAt)} ${e(readableInZone(ctx.exportedAt, ctx.timeZone))} ${e(w.exportedBy)} ${e(ctx.exportedBy)} · ${e(w.timeZone)}${w.colon}${e(ctx.timeZone)}</p>
<p class="meta">${e(w.filters)}${w.colon}${e(describeFilter(ctx.filter, w, ctx.timeZone))} · ${e(w.count(book.entries.length))}</p>
${book.truncated ? `<p class="warn">${e(w.truncated)}</p>` : ''}
${
  book.entries.length === 0
    ? `<p>${e(w.empty)}</p>`
    : `<table>
<thead><tr><th scope="col">${e(w.at)}</th><th scope="col">${e(w.author)}</th><th scope="col">${e(w.tag)}</th><th scope="col">${e(w.text)}</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
}
</body>
</html>
`;
}
