// Server-side search: full-text over the rooms a user may read, as /messages would show them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchRoutes } from '../../../src/matrix/search/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, expectError, join, ok, registerSpecUser, sendMessage, sendState, txn, type SpecUser } from '../../support/spec-client.ts';

const SEARCH = `${V3}/search`;

describe('search routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let ana: SpecUser;
  let ben: SpecUser;
  let eve: SpecUser;
  // A word of its own per test run, so that no other test's message matches.
  const word = (w: string) => `${w}${process.pid}`;

  beforeAll(async () => {
    server = await startTestServer();
    ana = await registerSpecUser(server.url, log);
    ben = await registerSpecUser(server.url, log);
    eve = await registerSpecUser(server.url, log);
  });

  afterAll(async () => {
    log.expectRoutesCovered(searchRoutes(server.services));
    await closeAllTestServers();
  });

  const search = async (user: SpecUser, criteria: Record<string, unknown>, nextBatch?: string) =>
    ok(await user.api.post(`${SEARCH}${nextBatch ? `?next_batch=${enc(nextBatch)}` : ''}`, { search_categories: { room_events: criteria } })).search_categories.room_events;
  const bodies = (page: { results: Array<{ result: { content: { body?: string } } }> }) => page.results.map((r) => r.result.content.body);

  it('finds words by prefix in the rooms of the user, in no one else’s', async () => {
    const w = word('evacuation');
    const roomId = await createRoom(ana.api, { preset: 'public_chat', name: `Cellule ${w}` });
    await join(ben.api, roomId);
    await sendMessage(ana.api, roomId, `${w}s du bâtiment B en cours`);
    await sendMessage(ben.api, roomId, 'rien à voir');
    await sendState(ana.api, roomId, 'm.room.topic', '', { topic: `Suivi de l'${w}` });
    const eveRoom = await createRoom(eve.api, {});
    await sendMessage(eve.api, eveRoom, `${w} secrète d'Eve`);

    const found = await search(ben, { search_term: `${w.toUpperCase()} bâtiment` });
    expect(bodies(found)).toEqual([`${w}s du bâtiment B en cours`]);
    expect(found.count).toBe(1);
    expect(found.highlights).toEqual(expect.arrayContaining([w, 'bâtiment']));
    expect(found.results[0].result.room_id).toBe(roomId);
    expect(typeof found.results[0].rank).toBe('number');

    // One word: the message, the room name and the topic; Eve's own room stays hers.
    const all = await search(ben, { search_term: w });
    expect(all.results.map((r: { result: { type: string } }) => r.result.type).sort()).toEqual(['m.room.message', 'm.room.name', 'm.room.topic']);
    const eveFound = await search(eve, { search_term: w });
    expect(eveFound.results.map((r: { result: { room_id: string } }) => r.result.room_id)).toEqual([eveRoom]);

    // keys narrows the fields; a filter narrows rooms, types and senders.
    const topics = await search(ben, { search_term: w, keys: ['content.topic'] });
    expect(topics.results.map((r: { result: { type: string } }) => r.result.type)).toEqual(['m.room.topic']);
    expect((await search(ben, { search_term: w, filter: { types: ['m.room.n*'] } })).results.map((r: { result: { type: string } }) => r.result.type)).toEqual(['m.room.name']);
    expect((await search(ben, { search_term: w, filter: { senders: [ben.userId] } })).results).toEqual([]);
    expect((await search(ben, { search_term: w, filter: { not_rooms: [roomId] } })).results).toEqual([]);
    expect((await search(ben, { search_term: w, filter: { rooms: [roomId], contains_url: true } })).results).toEqual([]);
  });

  it('respects history visibility and membership as /messages does', async () => {
    const w = word('consigne');
    const roomId = await createRoom(ana.api, { preset: 'public_chat' });
    await sendState(ana.api, roomId, 'm.room.history_visibility', '', { history_visibility: 'joined' });
    await sendMessage(ana.api, roomId, `${w} avant Ben`);
    await join(ben.api, roomId);
    await sendMessage(ana.api, roomId, `${w} pendant Ben`);
    ok(await ben.api.post(`${V3}/rooms/${enc(roomId)}/leave`, {}));
    await sendMessage(ana.api, roomId, `${w} après Ben`);

    expect(bodies(await search(ben, { search_term: w, order_by: 'recent' }))).toEqual([`${w} pendant Ben`]);
    expect(bodies(await search(ana, { search_term: w, order_by: 'recent' }))).toEqual([`${w} après Ben`, `${w} pendant Ben`, `${w} avant Ben`]);
    // Eve was never in the room: a public room she could join is still not searched.
    expect((await search(eve, { search_term: w })).results).toEqual([]);
    // Asking for another user's room by filter changes nothing.
    expect((await search(eve, { search_term: w, filter: { rooms: [roomId] } })).count).toBe(0);
  });

  it('never finds redacted events', async () => {
    const w = word('fuite');
    const roomId = await createRoom(ana.api, {});
    const gone = await sendMessage(ana.api, roomId, `${w} à supprimer`);
    await sendMessage(ana.api, roomId, `${w} à garder`);
    ok(await ana.api.put(`${V3}/rooms/${enc(roomId)}/redact/${enc(gone)}/${txn()}`, {}));
    expect(bodies(await search(ana, { search_term: w }))).toEqual([`${w} à garder`]);
  });

  it('pages through results in a stable order, by rank or by date', async () => {
    const w = word('renfort');
    const roomId = await createRoom(ana.api, {});
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      const body = i === 2 ? `${w} ${w} ${w} n°${i}` : `${w} n°${i} et d'autres mots pour diluer le rang`;
      sent.push(body);
      await sendMessage(ana.api, roomId, body);
    }
    // Rank first: the message that says the word three times comes first.
    const ranked = await search(ana, { search_term: w, filter: { limit: 10 } });
    expect(ranked.results[0].result.content.body).toBe(sent[2]);
    expect(ranked.results[0].rank).toBeGreaterThan(ranked.results[1].rank);

    const seen: Array<string | undefined> = [];
    let page = await search(ana, { search_term: w, order_by: 'recent', filter: { limit: 2 } });
    expect(page.count).toBe(5);
    seen.push(...bodies(page));
    // A message sent between pages does not shift them.
    await sendMessage(ana.api, roomId, `${w} tardif`);
    while (page.next_batch) {
      page = await search(ana, { search_term: w, order_by: 'recent', filter: { limit: 2 } }, page.next_batch as string);
      seen.push(...bodies(page));
    }
    expect(seen).toEqual([...sent].reverse());
    // A new search sees it.
    expect((await search(ana, { search_term: w, order_by: 'recent', filter: { limit: 1 } })).results[0].result.content.body).toBe(`${w} tardif`);
  });

  it('gives context, profiles, state and groups when asked', async () => {
    const w = word('relève');
    const roomId = await createRoom(ana.api, { name: 'Salle de crise' });
    ok(await ana.api.put(`${V3}/profile/${enc(ana.userId)}/displayname`, { displayname: 'Ana de garde' }));
    await sendMessage(ana.api, roomId, 'avant 1');
    await sendMessage(ana.api, roomId, 'avant 2');
    const hit = await sendMessage(ana.api, roomId, `${w} à 18h`);
    await sendMessage(ana.api, roomId, 'après 1');
    const found = await search(ana, {
      search_term: w,
      event_context: { before_limit: 1, after_limit: 3, include_profile: true },
      include_state: true,
      groupings: { group_by: [{ key: 'room_id' }, { key: 'sender' }] },
    });
    const r = found.results[0];
    expect(r.result.event_id).toBe(hit);
    expect(r.context.events_before.map((e: { content: { body: string } }) => e.content.body)).toEqual(['avant 2']);
    expect(r.context.events_after.map((e: { content: { body: string } }) => e.content.body)).toEqual(['après 1']);
    expect(r.context.profile_info[ana.userId]).toEqual({ displayname: 'Ana de garde' });
    // The context's tokens page /messages from there.
    const older = ok(await ana.api.get(`${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=1&from=${enc(r.context.start as string)}`));
    expect(older.chunk[0].content.body).toBe('avant 1');
    expect(found.state[roomId].some((e: { type: string; content: { name?: string } }) => e.type === 'm.room.name' && e.content.name === 'Salle de crise')).toBe(true);
    expect(found.groups.room_id[roomId]).toMatchObject({ results: [hit], order: 1 });
    expect(found.groups.sender[ana.userId].results).toEqual([hit]);
  });

  it('refuses malformed requests cleanly and clamps huge values', async () => {
    const post = (body: unknown, query = '') => ana.api.call('POST', `${SEARCH}${query}`, { body });
    for (const body of [
      {},
      { search_categories: 'x' },
      { search_categories: { room_events: {} } },
      { search_categories: { room_events: { search_term: 42 } } },
      { search_categories: { room_events: { search_term: 'x', keys: ['content.url'] } } },
      { search_categories: { room_events: { search_term: 'x', order_by: 'oldest' } } },
      { search_categories: { room_events: { search_term: 'x', event_context: { before_limit: -1 } } } },
      { search_categories: { room_events: { search_term: 'x', event_context: { after_limit: 1.5 } } } },
      { search_categories: { room_events: { search_term: 'x', filter: { limit: 'ten' } } } },
      { search_categories: { room_events: { search_term: 'x', groupings: { group_by: [{ key: 'type' }] } } } },
      { search_categories: { room_events: { search_term: 'x'.repeat(5000) } } },
      // JSON with NUL is refused before any handler (PostgreSQL text cannot hold it).
      { search_categories: { room_events: { search_term: '\u0000' } } },
    ]) {
      expectError(await post(body), 400, 'M_BAD_JSON');
    }
    for (const token of ['nope', 'x-1_2', `x1_${'9'.repeat(30)}`, "x1_2'; DROP TABLE events; --"]) {
      expectError(await post({ search_categories: { room_events: { search_term: 'x' } } }, `?next_batch=${enc(token)}`), 400, 'M_INVALID_PARAM');
    }
    // tsquery syntax, quotes, backslashes and no words at all: searched as words, or nothing.
    const w = word('alerte');
    const roomId = await createRoom(ana.api, {});
    await sendMessage(ana.api, roomId, `${w} rouge`);
    for (const term of [`${w} & !rouge`, `'${w}':* | (rouge`, `${w}\\`, `"${w}"`]) {
      expect(bodies(await search(ana, { search_term: term }))).toEqual([`${w} rouge`]);
    }
    for (const term of ['', '!!! ::: &&&', 'é'.repeat(4096)]) {
      const r = ok(await post({ search_categories: { room_events: { search_term: term } } })).search_categories.room_events;
      expect(r.results).toEqual([]);
    }
    // Huge limits are clamped, a snapshot from the future is the present.
    const big = await search(ana, { search_term: w, filter: { limit: 1e12 }, event_context: { before_limit: 1e12, after_limit: 1e12 } });
    expect(bodies(big)).toEqual([`${w} rouge`]);
    expect(bodies(await search(ana, { search_term: w }, `x0_${'9'.repeat(15)}`))).toEqual([`${w} rouge`]);
    // Beyond the results: an empty page, no next_batch.
    const past = await search(ana, { search_term: w }, 'x999999_1');
    expect(past.results).toEqual([]);
    expect(past.next_batch).toBeUndefined();
    // Without the room_events category there is nothing to search.
    expect(ok(await post({ search_categories: {} })).search_categories).toEqual({});
  });
});
