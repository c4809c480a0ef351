// Read receipts and read markers: stored, shown in the other members' sync (ephemeral),
// private ones only to their owner, and they reset the unread counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiptRoutes } from '../../../src/matrix/receipts/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, expectError, join, ok, registerSpecUser, sendMessage, sync, type SpecUser } from '../../support/spec-client.ts';

type Json = Record<string, any>;

describe('receipt routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let alice: SpecUser;
  let bob: SpecUser;
  let carol: SpecUser;
  let roomId: string;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob, carol] = await Promise.all([registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log)]);
    roomId = await createRoom(alice.api, { preset: 'public_chat' });
    await join(bob.api, roomId);
  });

  afterAll(async () => {
    log.expectRoutesCovered(receiptRoutes(server.services));
    await closeAllTestServers();
  });

  const receipt = (user: SpecUser, r: string, type: string, eventId: string, body: Json = {}) =>
    user.api.post(`${V3}/rooms/${enc(r)}/receipt/${enc(type)}/${enc(eventId)}`, body);
  const receiptsIn = (s: Json, r: string): Json[] => (s.rooms.join[r]?.ephemeral.events ?? []).filter((e: Json) => e.type === 'm.receipt');

  it('shows a read receipt in the other members’ sync and resets the reader’s unread count', async () => {
    const ids = [await sendMessage(alice.api, roomId, 'un'), await sendMessage(alice.api, roomId, 'deux'), await sendMessage(alice.api, roomId, 'trois')];
    const bobBefore = await sync(bob.api);
    expect(bobBefore.rooms.join[roomId].unread_notifications.notification_count).toBe(3);
    const aliceSince = (await sync(alice.api)).next_batch;

    ok(await receipt(bob, roomId, 'm.read', ids[2]!));
    const aliceSync = await sync(alice.api, { since: aliceSince });
    const r = receiptsIn(aliceSync, roomId)[0]!;
    expect(r.content[ids[2]!]['m.read'][bob.userId].ts).toEqual(expect.any(Number));
    const bobAfter = await sync(bob.api);
    expect(bobAfter.rooms.join[roomId].unread_notifications.notification_count).toBe(0);
    // An initial sync shows the latest receipts too.
    expect(receiptsIn(await sync(alice.api), roomId)[0]!.content[ids[2]!]['m.read'][bob.userId]).toBeDefined();
  });

  it('never moves a receipt backwards', async () => {
    const older = await sendMessage(alice.api, roomId, 'older');
    const newer = await sendMessage(alice.api, roomId, 'newer');
    ok(await receipt(bob, roomId, 'm.read', newer));
    const since = (await sync(alice.api)).next_batch;
    ok(await receipt(bob, roomId, 'm.read', older));
    const s = await sync(alice.api, { since });
    expect(receiptsIn(s, roomId)).toEqual([]);
    const latest = receiptsIn(await sync(alice.api), roomId)[0]!.content;
    expect(latest[newer]['m.read'][bob.userId]).toBeDefined();
    expect(latest[older]).toBeUndefined();
  });

  it('keeps private receipts private', async () => {
    const id = await sendMessage(alice.api, roomId, 'en privé');
    const aliceSince = (await sync(alice.api)).next_batch;
    const bobSince = (await sync(bob.api)).next_batch;
    ok(await receipt(bob, roomId, 'm.read.private', id));
    const forAlice = await sync(alice.api, { since: aliceSince, timeout: 300 });
    expect(JSON.stringify(receiptsIn(forAlice, roomId))).not.toContain('m.read.private');
    const forBob = await sync(bob.api, { since: bobSince });
    expect(receiptsIn(forBob, roomId)[0]!.content[id]['m.read.private'][bob.userId]).toBeDefined();
    expect(forBob.rooms.join[roomId].unread_notifications.notification_count).toBe(0);
  });

  it('takes threaded receipts', async () => {
    const id = await sendMessage(alice.api, roomId, 'thread root');
    ok(await receipt(bob, roomId, 'm.read', id, { thread_id: 'main' }));
    ok(await receipt(bob, roomId, 'm.read', id, { thread_id: id }));
    expectError(await receipt(bob, roomId, 'm.read', id, { thread_id: '' }), 400, ['M_INVALID_PARAM', 'M_BAD_JSON']);
    expectError(await receipt(bob, roomId, 'm.read', id, { thread_id: 7 }), 400, 'M_BAD_JSON');
  });

  it('sets the fully-read marker through /read_markers and through m.fully_read receipts', async () => {
    const a = await sendMessage(alice.api, roomId, 'lu');
    const b = await sendMessage(alice.api, roomId, 'lu aussi');
    const since = (await sync(bob.api)).next_batch;
    ok(await bob.api.post(`${V3}/rooms/${enc(roomId)}/read_markers`, { 'm.fully_read': a, 'm.read': a }));
    const s = await sync(bob.api, { since });
    expect(s.rooms.join[roomId].account_data.events).toContainEqual({ type: 'm.fully_read', content: { event_id: a } });
    expect(ok(await bob.api.get(`${V3}/user/${enc(bob.userId)}/rooms/${enc(roomId)}/account_data/m.fully_read`))).toEqual({ event_id: a });
    ok(await receipt(bob, roomId, 'm.fully_read', b));
    expect(ok(await bob.api.get(`${V3}/user/${enc(bob.userId)}/rooms/${enc(roomId)}/account_data/m.fully_read`))).toEqual({ event_id: b });
    ok(await bob.api.post(`${V3}/rooms/${enc(roomId)}/read_markers`, { 'm.read.private': b }));
    ok(await bob.api.post(`${V3}/rooms/${enc(roomId)}/read_markers`, {}));
    expectError(await bob.api.post(`${V3}/rooms/${enc(roomId)}/read_markers`, { 'm.fully_read': 5 }), 400, 'M_BAD_JSON');
  });

  it('refuses unknown receipt types, unknown events, other rooms’ events and rooms one is not in', async () => {
    const id = await sendMessage(alice.api, roomId, 'x');
    expectError(await receipt(bob, roomId, 'm.unread', id), 400, 'M_INVALID_PARAM');
    expectError(await receipt(bob, roomId, "m.read' OR '1'='1", id), 400, 'M_INVALID_PARAM');
    expectError(await receipt(bob, roomId, 'm.read', '$nope'), 404, 'M_NOT_FOUND');
    const other = await createRoom(alice.api, { preset: 'public_chat' });
    const otherEvent = await sendMessage(alice.api, other, 'ailleurs');
    expectError(await receipt(bob, roomId, 'm.read', otherEvent), 404, 'M_NOT_FOUND');
    const outsider = await receipt(carol, roomId, 'm.read', id);
    expect([403, 404]).toContain(outsider.status);
    const markers = await carol.api.post(`${V3}/rooms/${enc(roomId)}/read_markers`, { 'm.fully_read': id });
    expect([403, 404]).toContain(markers.status);
    expectError(await receipt(bob, 'not-a-room', 'm.read', id), 400, 'M_INVALID_PARAM');
    // Nothing was recorded for carol.
    expect(JSON.stringify(receiptsIn(await sync(alice.api), roomId))).not.toContain(carol.userId);
  });
});
