import { describe, expect, it } from 'vitest';
import { csvCell } from '../../../src/crisis/logbook/logbook-csv.ts';
import { logbookContent, parseLogbookContent } from '../../../src/crisis/logbook/logbook-entry.ts';
import { escapeHtml } from '../../../src/crisis/logbook/logbook-html.ts';
import { isoInZone } from '../../../src/crisis/logbook/logbook-time.ts';

describe('log book CSV cells', () => {
  it('neutralises what a spreadsheet would run as a formula', () => {
    for (const v of ['=1+1', '+33612345678', '-2', '@SUM(A1)', '\t=1', '\r=1', '  =cmd|/C calc!A0']) {
      expect(csvCell(v, ',').replace(/^"|"$/g, '').startsWith("'"), JSON.stringify(v)).toBe(true);
    }
    expect(csvCell('Appel reçu', ',')).toBe('Appel reçu');
    expect(csvCell('a-b=c', ',')).toBe('a-b=c');
    // Our own cells (times, headings) are not touched.
    expect(csvCell('-', ',', false)).toBe('-');
  });

  it('quotes the delimiter, quotes, line breaks and outer blanks (RFC 4180)', () => {
    expect(csvCell('a,b', ',')).toBe('"a,b"');
    expect(csvCell('a,b', ';')).toBe('a,b');
    expect(csvCell('a;b', ';')).toBe('"a;b"');
    expect(csvCell('say "hi"', ',')).toBe('"say ""hi"""');
    expect(csvCell('one\ntwo', ',')).toBe('"one\ntwo"');
    expect(csvCell(' padded', ',')).toBe('" padded"');
    expect(csvCell('=HYPERLINK("x")', ',')).toBe(`"'=HYPERLINK(""x"")"`);
  });
});

describe('log book entries as event content', () => {
  it('round-trips the fields and writes a body stock clients show', () => {
    const c = logbookContent({ text: 'Évacuation ordonnée', tag: ' Décision ', occurred_at: 1_795_594_500_000 }, '09:15');
    expect(c).toEqual({
      msgtype: 'org.tocsin.logbook.entry',
      body: '📒 [décision] (09:15) Évacuation ordonnée',
      'org.tocsin.logbook': { text: 'Évacuation ordonnée', tag: 'décision', occurred_at: 1_795_594_500_000 },
    });
    expect(parseLogbookContent(c)).toEqual({ text: 'Évacuation ordonnée', tag: 'décision', occurred_at: 1_795_594_500_000 });
  });

  it('reads hostile or foreign content defensively', () => {
    expect(parseLogbookContent({ msgtype: 'm.text', body: 'chat' })).toBeUndefined();
    expect(parseLogbookContent({ msgtype: 'org.tocsin.logbook.entry' })).toBeUndefined();
    expect(parseLogbookContent({ msgtype: 'org.tocsin.logbook.entry', body: '   ' })).toBeUndefined();
    expect(parseLogbookContent({ msgtype: 'org.tocsin.logbook.entry', body: 'from Element' })).toEqual({ text: 'from Element', tag: undefined, occurred_at: undefined });
    const odd = parseLogbookContent({
      msgtype: 'org.tocsin.logbook.entry',
      body: 'x',
      'org.tocsin.logbook': { text: 'y'.repeat(10_000), tag: '<script>', occurred_at: 1.5 },
    });
    expect(odd?.text.length).toBe(4000);
    expect(odd?.tag).toBeUndefined();
    expect(odd?.occurred_at).toBeUndefined();
    expect(parseLogbookContent({ msgtype: 'org.tocsin.logbook.entry', body: 'b', 'org.tocsin.logbook': ['text'] })?.text).toBe('b');
    expect(parseLogbookContent({ msgtype: 'org.tocsin.logbook.entry', body: 'b', 'org.tocsin.logbook': { occurred_at: -5 } })?.occurred_at).toBeUndefined();
  });
});

describe('log book times and HTML', () => {
  it('writes ISO 8601 with the zone offset, summer and winter', () => {
    expect(isoInZone(Date.UTC(2026, 10, 25, 8, 15), 'Europe/Paris')).toBe('2026-11-25T09:15:00+01:00');
    expect(isoInZone(Date.UTC(2026, 6, 1, 8, 15), 'Europe/Paris')).toBe('2026-07-01T10:15:00+02:00');
    expect(isoInZone(Date.UTC(2026, 6, 1, 8, 15), 'UTC')).toBe('2026-07-01T08:15:00Z');
    expect(isoInZone(Date.UTC(2026, 6, 1, 8, 15), 'America/St_Johns')).toBe('2026-07-01T05:45:00-02:30');
  });

  it('escapes the five HTML specials', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });
});
