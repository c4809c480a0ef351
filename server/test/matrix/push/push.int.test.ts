import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushRoutes } from '../../../src/matrix/push/routes.ts';
import { enc } from '../../support/client.ts';
import { PushGateway } from '../../support/push-gateway.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import {
  CallLog,
  createRoom,
  eventually,
  expectError,
  invite,
  join,
  ok,
  registerSpecUser,
  sendMessage,
  sync,
  txn,
  V3,
  type SpecUser,
} from '../../support/spec-client.ts';

describe('push', () => {
  let server: TestServer;
  let gateway: PushGateway;
  const log = new CallLog();
  let alice: SpecUser;
  let bob: SpecUser;
  let carol: SpecUser;

  const pusher = (pushkey: string, extra: Record<string, unknown> = {}) => ({
    kind: 'http',
    app_id: 'org.example.app',
    pushkey,
    app_display_name: 'Example',
    device_display_name: 'Phone',
    lang: 'fr',
    data: { url: gateway.url, format: undefined, custom: 'kept' },
    ...extra,
  });

  beforeAll(async () => {
    gateway = await PushGateway.start();
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-push-'));
    const config = path.join(dir, 'tocsin.yaml');
    writeFileSync(config, 'outbound_allow_ranges: ["127.0.0.0/8"]\n');
    server = await startTestServer({ TOCSIN_CONFIG: config });
    [alice, bob, carol] = await Promise.all([registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log)]);
  });

  afterAll(async () => {
    log.expectRoutesCovered(pushRoutes(server.services));
    await closeAllTestServers();
    await gateway.close();
  });

  it('serves the full default ruleset and lets a user add, move, change and delete rules, seen in sync', async () => {
    const rules = ok(await bob.api.get(`${V3}/pushrules/`)).global;
    expect(rules.override.map((r: { rule_id: string }) => r.rule_id)).toContain('.m.rule.is_user_mention');
    expect(ok(await bob.api.get(`${V3}/pushrules/global/`)).underride.at(-1).rule_id).toBe('.m.rule.encrypted');
    const since = (await sync(bob.api)).next_batch;

    const R = `${V3}/pushrules/global`;
    ok(await bob.api.put(`${R}/override/first`, { actions: ['notify'], conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'fire' }] }));
    ok(await bob.api.put(`${R}/override/second?after=first`, { actions: [], conditions: [] }));
    ok(await bob.api.put(`${R}/override/zero?before=first`, { actions: [], conditions: [] }));
    ok(await bob.api.put(`${R}/content/cake`, { actions: ['notify', { set_tweak: 'highlight' }], pattern: 'cake*' }));
    const order = ok(await bob.api.get(`${V3}/pushrules/`)).global.override.map((r: { rule_id: string }) => r.rule_id);
    expect(order.slice(0, 4)).toEqual(['.m.rule.master', 'zero', 'first', 'second']);
    expect(ok(await bob.api.get(`${R}/content/cake`))).toMatchObject({ rule_id: 'cake', pattern: 'cake*', enabled: true, default: false });

    ok(await bob.api.put(`${R}/override/first/enabled`, { enabled: false }));
    expect(ok(await bob.api.get(`${R}/override/first/enabled`))).toEqual({ enabled: false });
    ok(await bob.api.put(`${R}/underride/.m.rule.message/actions`, { actions: ['notify', { set_tweak: 'sound', value: 'bell' }] }));
    expect(ok(await bob.api.get(`${R}/underride/.m.rule.message/actions`)).actions).toEqual(['notify', { set_tweak: 'sound', value: 'bell' }]);
    ok(await bob.api.delete(`${R}/override/zero`));
    expectError(await bob.api.get(`${R}/override/zero`), 404, 'M_NOT_FOUND');

    // The client sees its rules as m.push_rules account data.
    const later = await sync(bob.api, { since });
    const data = later.account_data.events.find((e: { type: string }) => e.type === 'm.push_rules');
    expect(data.content.global.override.map((r: { rule_id: string }) => r.rule_id).slice(0, 3)).toEqual(['.m.rule.master', 'first', 'second']);
    // Another user's rules are their own.
    expect(ok(await carol.api.get(`${V3}/pushrules/`)).global.override[1].rule_id).toBe('.m.rule.suppress_notices');

    // Back to the defaults for the tests below.
    for (const id of ['first', 'second']) ok(await bob.api.delete(`${R}/override/${id}`));
    ok(await bob.api.delete(`${R}/content/cake`));
    ok(await bob.api.put(`${R}/underride/.m.rule.message/actions`, { actions: ['notify'] }));
  });

  it('refuses bad rules cleanly', async () => {
    const R = `${V3}/pushrules/global`;
    expectError(await bob.api.put(`${R}/override/.m.rule.mine`, { actions: [] }), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.put(`${R}/nonsense/x`, { actions: [] }), 404, 'M_UNRECOGNIZED');
    expectError(await bob.api.put(`${R}/override/x`, { actions: ['explode'] }), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.put(`${R}/override/x`, { actions: [{ set_tweak: 'highlight', value: 'yes' }] }), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.put(`${R}/override/x`, { actions: [], conditions: [{ kind: 'event_match', key: 'type' }] }), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.put(`${R}/override/x`, { actions: [], conditions: [{ kind: 'event_property_is', key: 'a', value: { nested: 1 } }] }), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.put(`${R}/override/x`, { actions: [], conditions: ['x'] }), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.put(`${R}/content/x`, { actions: [] }), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.put(`${R}/override/x?before=missing`, { actions: [] }), 400, 'M_UNKNOWN');
    expectError(await bob.api.put(`${R}/override/x?after=.m.rule.master`, { actions: [] }), 400, 'M_UNKNOWN');
    expectError(await bob.api.put(`${R}/override/x`, { conditions: [] }), 400, 'M_BAD_JSON');
    expectError(await bob.api.put(`${R}/override/x`, 'not json'), 400, ['M_NOT_JSON', 'M_BAD_JSON']);
    expectError(await bob.api.delete(`${R}/override/.m.rule.master`), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.delete(`${R}/override/never`), 404, 'M_NOT_FOUND');
    expectError(await bob.api.put(`${R}/override/never/enabled`, { enabled: true }), 404, 'M_NOT_FOUND');
    expectError(await bob.api.put(`${R}/override/.m.rule.master/enabled`, { enabled: 'yes' }), 400, 'M_BAD_JSON');
    // An unknown condition kind is stored but never matches (the spec).
    ok(await bob.api.put(`${R}/override/future`, { actions: ['notify'], conditions: [{ kind: 'org.example.future' }] }));
    ok(await bob.api.delete(`${R}/override/future`));
    // The account data API cannot write push rules.
    expectError(await bob.api.put(`${V3}/user/${enc(bob.userId)}/account_data/m.push_rules`, { global: {} }), 405, 'M_BAD_JSON');
  });

  it('manages pushers: set, list, replace, delete, and refuses bad gateways', async () => {
    ok(await bob.api.post(`${V3}/pushers/set`, pusher('bob-key')));
    const list = ok(await bob.api.get(`${V3}/pushers`)).pushers;
    expect(list).toEqual([expect.objectContaining({ pushkey: 'bob-key', kind: 'http', app_id: 'org.example.app', lang: 'fr' })]);
    expect(ok(await carol.api.get(`${V3}/pushers`)).pushers).toEqual([]);

    // Same app and key for another user without append: the first user's pusher goes.
    ok(await carol.api.post(`${V3}/pushers/set`, pusher('shared-key')));
    ok(await alice.api.post(`${V3}/pushers/set`, pusher('shared-key')));
    expect(ok(await carol.api.get(`${V3}/pushers`)).pushers).toEqual([]);
    ok(await carol.api.post(`${V3}/pushers/set`, pusher('shared-key', { append: true })));
    expect(ok(await alice.api.get(`${V3}/pushers`)).pushers).toHaveLength(1);
    // kind null deletes one's own pusher only.
    ok(await carol.api.post(`${V3}/pushers/set`, { kind: null, app_id: 'org.example.app', pushkey: 'bob-key' }));
    expect(ok(await bob.api.get(`${V3}/pushers`)).pushers).toHaveLength(1);
    for (const u of [alice, carol]) ok(await u.api.post(`${V3}/pushers/set`, { kind: null, app_id: 'org.example.app', pushkey: 'shared-key' }));
    expect(ok(await alice.api.get(`${V3}/pushers`)).pushers).toEqual([]);

    const bad = (data: Record<string, unknown>) => carol.api.post(`${V3}/pushers/set`, pusher('k', { data }));
    expectError(await bad({ url: 'http://10.1.2.3/_matrix/push/v1/notify' }), 400, 'M_INVALID_PARAM');
    expectError(await bad({ url: 'http://[::1]:9/_matrix/push/v1/notify' }), 400, 'M_INVALID_PARAM');
    expectError(await bad({ url: 'ftp://example.org/_matrix/push/v1/notify' }), 400, 'M_INVALID_PARAM');
    expectError(await bad({ url: `${gateway.url}/../../admin` }), 400, 'M_INVALID_PARAM');
    expectError(await bad({ url: 'not a url' }), 400, 'M_INVALID_PARAM');
    expectError(await bad({ format: 'event_id_only' }), 400, 'M_MISSING_PARAM');
    expectError(await bad({ url: gateway.url, format: 'everything' }), 400, 'M_INVALID_PARAM');
    expectError(await carol.api.post(`${V3}/pushers/set`, { kind: 'http', app_id: 'a', pushkey: 'k' }), 400, 'M_MISSING_PARAM');
    expectError(await carol.api.post(`${V3}/pushers/set`, pusher('k', { kind: 'email' })), 400, 'M_INVALID_PARAM');
    expectError(await carol.api.post(`${V3}/pushers/set`, pusher('x'.repeat(600))), 400, 'M_BAD_JSON');
    expectError(await carol.api.post(`${V3}/pushers/set`, pusher('k', { app_id: 42 })), 400, 'M_BAD_JSON');
    expect(ok(await carol.api.get(`${V3}/pushers`)).pushers).toEqual([]);
  });

  it('pushes every DM message and group mentions to the gateway, none for a muted room, with counts in sync', async () => {
    ok(await bob.api.post(`${V3}/pushers/set`, pusher('bob-key')));
    ok(await bob.api.post(`${V3}/pushers/set`, pusher('bob-lite', { app_id: 'org.example.lite', data: { url: gateway.url, format: 'event_id_only' } })));
    const dm = await createRoom(alice.api, { preset: 'trusted_private_chat', is_direct: true, name: 'Alice et Bob' });
    await invite(alice.api, dm, bob.userId);
    await join(bob.api, dm);
    const group = await createRoom(alice.api, { preset: 'public_chat', name: 'Cellule' });
    await join(bob.api, group);
    await join(carol.api, group);
    const muted = await createRoom(alice.api, { preset: 'public_chat' });
    await join(bob.api, muted);
    // How Element mutes a room: an override rule on the room id with no actions.
    ok(await bob.api.put(`${V3}/pushrules/global/override/${enc(muted)}`, { actions: [], conditions: [{ kind: 'event_match', key: 'room_id', pattern: muted }] }));

    const quiet = await sendMessage(alice.api, muted, 'personne ne doit sonner');
    const inDm = await sendMessage(alice.api, dm, 'tu es là ?');
    const mention = ok(await alice.api.put(`${V3}/rooms/${enc(group)}/send/m.room.message/${txn()}`, {
      msgtype: 'm.text', body: 'Bob: au rapport', 'm.mentions': { user_ids: [bob.userId] },
    })).event_id as string;

    const full = await eventually(async () => gateway.forEvent(mention).find((n) => n.devices[0]!.pushkey === 'bob-key'), 'the mention at the gateway');
    expect(full).toMatchObject({ room_id: group, type: 'm.room.message', sender: alice.userId, room_name: 'Cellule', prio: 'high', content: { body: 'Bob: au rapport' } });
    expect(full.devices[0]).toMatchObject({ app_id: 'org.example.app', data: { custom: 'kept' }, tweaks: { highlight: true, sound: 'default' } });
    expect(full.counts!.unread).toBeGreaterThanOrEqual(1);
    const dmPush = await eventually(async () => gateway.forEvent(inDm).find((n) => n.devices[0]!.pushkey === 'bob-lite'), 'the DM at the lite gateway');
    // event_id_only: ids and counts, no content.
    expect(dmPush.content).toBeUndefined();
    expect(dmPush.sender).toBeUndefined();
    expect(dmPush).toMatchObject({ room_id: dm, counts: { unread: expect.any(Number) } });
    await eventually(async () => gateway.forEvent(inDm).find((n) => n.devices[0]!.pushkey === 'bob-key'), 'the DM at the full gateway');
    expect(gateway.forEvent(quiet)).toEqual([]);
    expect(gateway.malformed).toEqual([]);

    const s = await sync(bob.api);
    expect(s.rooms.join[group].unread_notifications).toEqual({ notification_count: 1, highlight_count: 1 });
    expect(s.rooms.join[dm].unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
    expect(s.rooms.join[muted].unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    // Carol was not mentioned, but the group's messages notify her (the spec's .m.rule.message).
    expect((await sync(carol.api)).rooms.join[group].unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });

    const notes = ok(await bob.api.get(`${V3}/notifications`)).notifications;
    expect(notes.map((n: { event: { event_id: string } }) => n.event.event_id)).toEqual(expect.arrayContaining([mention, inDm]));
    expect(notes.map((n: { event: { event_id: string } }) => n.event.event_id)).not.toContain(quiet);
    const highlights = ok(await bob.api.get(`${V3}/notifications?only=highlight`)).notifications;
    expect(highlights.map((n: { event: { event_id: string } }) => n.event.event_id)).toEqual([mention]);
    const page = ok(await bob.api.get(`${V3}/notifications?limit=1`));
    expect(page.notifications).toHaveLength(1);
    const next = ok(await bob.api.get(`${V3}/notifications?limit=1&from=${page.next_token}`));
    expect(next.notifications[0].event.event_id).not.toBe(page.notifications[0].event.event_id);
    expectError(await bob.api.get(`${V3}/notifications?from=abc`), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.get(`${V3}/notifications?limit=-1`), 400, 'M_INVALID_PARAM');

    // Reading resets the counts.
    ok(await bob.api.post(`${V3}/rooms/${enc(group)}/receipt/m.read/${enc(mention)}`, {}));
    expect((await sync(bob.api)).rooms.join[group].unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    expect(ok(await bob.api.get(`${V3}/notifications?only=highlight`)).notifications[0].read).toBe(true);
  });

  it('retries a failing gateway with backoff and drops a pusher whose pushkey is rejected', async () => {
    const dm = await createRoom(carol.api, { preset: 'trusted_private_chat' });
    await invite(carol.api, dm, alice.userId);
    await join(alice.api, dm);
    ok(await alice.api.post(`${V3}/pushers/set`, pusher('alice-key')));
    gateway.failNext = 1;
    const first = await sendMessage(carol.api, dm, 'premier');
    const got = await eventually(async () => gateway.forEvent(first)[0], 'the retried notification', 20_000);
    expect(got.devices[0]!.pushkey).toBe('alice-key');

    gateway.deadKeys.add('alice-key');
    const second = await sendMessage(carol.api, dm, 'second');
    await eventually(async () => gateway.forEvent(second)[0], 'the rejected notification');
    await eventually(async () => (ok(await alice.api.get(`${V3}/pushers`)).pushers.length === 0 ? true : undefined), 'the pusher dropped');
    const third = await sendMessage(carol.api, dm, 'troisième');
    // The evaluation of the third message is done once sync counts it from the stored actions.
    await eventually(async () => {
      await server.services.pushWorker.drain();
      const n = ok(await alice.api.get(`${V3}/notifications?limit=1`)).notifications[0];
      return n?.event.event_id === third ? true : undefined;
    }, 'the third message evaluated');
    expect(gateway.forEvent(third)).toEqual([]);
  });
});
