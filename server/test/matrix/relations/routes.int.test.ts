// Relations: /relations (all, by rel_type, by event type; paginated), /threads (all and
// participated), and the aggregations bundled in unsigned.m.relations on /messages, /event and
// /context: the latest valid edit, the thread summary, the references. Answers are checked
// against the spec's OpenAPI by SpecApi.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relationsRoutes } from '../../../src/matrix/relations/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, expectError, join, ok, registerSpecUser, type SpecUser } from '../../support/spec-client.ts';

type Json = Record<string, any>;
const V1 = '/_matrix/client/v1';

describe('relations and threads', () => {
  let server: TestServer;
  const log = new CallLog();
  let alice: SpecUser;
  let bob: SpecUser;
  let carol: SpecUser;
  let dave: SpecUser;
  let roomId: string;
  let root: string;
  let edit: string;
  let replies: string[];
  let reference: string;

  let n = 0;
  const send = async (user: SpecUser, content: Json, type = 'm.room.message') =>
    ok(await user.api.put(`${V3}/rooms/${enc(roomId)}/send/${type}/t${++n}`, content)).event_id as string;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob, carol, dave] = await Promise.all([registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log)]);
    roomId = await createRoom(alice.api, { preset: 'public_chat' });
    await join(bob.api, roomId);
    await join(dave.api, roomId);
    root = await send(alice, { msgtype: 'm.text', body: 'Point de situation à 14h' });
    edit = await send(alice, { msgtype: 'm.text', body: '* Point de situation à 15h', 'm.new_content': { msgtype: 'm.text', body: 'Point de situation à 15h' }, 'm.relates_to': { rel_type: 'm.replace', event_id: root } });
    // Bob may not edit Alice's message: stored, listed, never bundled as the edit.
    await send(bob, { msgtype: 'm.text', body: '* piraté', 'm.new_content': { msgtype: 'm.text', body: 'piraté' }, 'm.relates_to': { rel_type: 'm.replace', event_id: root } });
    replies = [];
    for (const body of ['Reçu', 'Je serai là']) {
      replies.push(await send(bob, { msgtype: 'm.text', body, 'm.relates_to': { rel_type: 'm.thread', event_id: root, is_falling_back: true, 'm.in_reply_to': { event_id: root } } }));
    }
    await send(alice, { 'm.relates_to': { rel_type: 'm.annotation', event_id: root, key: '👍' } }, 'm.reaction');
    reference = await send(alice, { msgtype: 'm.text', body: 'voir plus haut', 'm.relates_to': { rel_type: 'm.reference', event_id: root } });
  });

  afterAll(async () => {
    log.expectRoutesCovered(relationsRoutes(server.services));
    await closeAllTestServers();
  });

  it('lists the relations of an event, by type, page by page', async () => {
    const all = ok(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}`));
    expect(all.chunk).toHaveLength(6);
    expect(all.chunk[0].event_id).toBe(reference); // newest first (dir=b)
    const threads = ok(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}/m.thread`));
    expect(threads.chunk.map((e: Json) => e.event_id)).toEqual([...replies].reverse());
    const reactions = ok(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}/m.annotation/m.reaction`));
    expect(reactions.chunk).toHaveLength(1);
    expect(ok(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}/m.annotation/m.room.message`)).chunk).toEqual([]);
    const forward = ok(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}?dir=f&limit=100`));
    expect(forward.chunk[0].event_id).toBe(edit);

    // Two at a time, following next_batch: every relation once, in order.
    const seen: string[] = [];
    let from: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = ok(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}?limit=2${from ? `&from=${enc(from)}` : ''}`));
      seen.push(...page.chunk.map((e: Json) => e.event_id));
      if (!page.next_batch) break;
      from = page.next_batch;
    }
    expect(seen).toEqual(all.chunk.map((e: Json) => e.event_id));
    expect(ok(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}?recurse=true`)).recursion_depth).toBe(1);
  });

  it('bundles the latest valid edit, the thread summary and the references', async () => {
    const page = ok(await bob.api.get(`${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=20`));
    const rootEvent = page.chunk.find((e: Json) => e.event_id === root);
    const bundled = rootEvent.unsigned['m.relations'];
    expect(bundled['m.replace'].event_id).toBe(edit);
    expect(bundled['m.thread']).toMatchObject({ count: 2, current_user_participated: true });
    expect(bundled['m.thread'].latest_event.event_id).toBe(replies[1]);
    expect(bundled['m.reference'].chunk).toEqual([{ event_id: reference }]);
    expect(bundled['m.annotation']).toBeUndefined();

    // Dave never took part; Alice sent the root, which counts as taking part.
    const asDave = ok(await dave.api.get(`${V3}/rooms/${enc(roomId)}/event/${enc(root)}`));
    expect(asDave.unsigned['m.relations']['m.thread'].current_user_participated).toBe(false);
    const asAlice = ok(await alice.api.get(`${V3}/rooms/${enc(roomId)}/context/${enc(replies[0]!)}?limit=20`));
    const rootInContext = [...asAlice.events_before, asAlice.event, ...asAlice.events_after].find((e: Json) => e.event_id === root);
    expect(rootInContext.unsigned['m.relations']['m.thread'].current_user_participated).toBe(true);
  });

  it('lists thread roots, all or those one took part in', async () => {
    const all = ok(await dave.api.get(`${V1}/rooms/${enc(roomId)}/threads`));
    expect(all.chunk.map((e: Json) => e.event_id)).toEqual([root]);
    expect(all.chunk[0].unsigned['m.relations']['m.thread'].count).toBe(2);
    expect(ok(await dave.api.get(`${V1}/rooms/${enc(roomId)}/threads?include=participated`)).chunk).toEqual([]);
    expect(ok(await bob.api.get(`${V1}/rooms/${enc(roomId)}/threads?include=participated`)).chunk).toHaveLength(1);
    expect(ok(await alice.api.get(`${V1}/rooms/${enc(roomId)}/threads?include=participated&limit=1`)).chunk).toHaveLength(1);
  });

  it('refuses outsiders, unknown events and bad parameters', async () => {
    expectError(await carol.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}`), 404, 'M_NOT_FOUND');
    expectError(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc('$nope')}`), 404, 'M_NOT_FOUND');
    expectError(await carol.api.get(`${V1}/rooms/${enc(roomId)}/threads`), 403, 'M_FORBIDDEN');
    expectError(await bob.api.get(`${V1}/rooms/${enc(roomId)}/threads?include=some`), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}?dir=x`), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}?limit=-1`), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.get(`${V1}/rooms/${enc(roomId)}/relations/${enc(root)}?from=garbage`), 400, 'M_INVALID_PARAM');
  });
});
