// Typing notifications: set for oneself in a joined room, shown in the other members' sync
// (ephemeral), woken long-polls, cleared by `typing: false` or by the timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { typingRoutes } from '../../../src/matrix/typing/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, eventually, expectError, join, ok, registerSpecUser, sync, type SpecUser } from '../../support/spec-client.ts';

type Json = Record<string, any>;

describe('typing routes', () => {
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
    log.expectRoutesCovered(typingRoutes(server.services));
    await closeAllTestServers();
  });

  const typing = (user: SpecUser, r: string, body: Json, target = user.userId) => user.api.put(`${V3}/rooms/${enc(r)}/typing/${enc(target)}`, body);
  const typingIn = (s: Json, r: string): string[] | undefined => s.rooms.join[r]?.ephemeral.events.find((e: Json) => e.type === 'm.typing')?.content.user_ids;

  it('shows who is typing in the others’ sync, and wakes their long-poll', async () => {
    const since = (await sync(alice.api)).next_batch;
    const polling = sync(alice.api, { since, timeout: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    ok(await typing(bob, roomId, { typing: true, timeout: 30_000 }));
    const woken = await polling;
    expect(typingIn(woken, roomId)).toEqual([bob.userId]);
    // An initial sync shows it too.
    expect(typingIn(await sync(alice.api), roomId)).toEqual([bob.userId]);

    ok(await typing(bob, roomId, { typing: false }));
    const stopped = await sync(alice.api, { since: woken.next_batch });
    expect(typingIn(stopped, roomId)).toEqual([]);
    // Nothing changed since: no typing event at all.
    const idle = await sync(alice.api, { since: stopped.next_batch });
    expect(typingIn(idle, roomId)).toBeUndefined();
  });

  it('expires after the timeout', async () => {
    const since = (await sync(alice.api)).next_batch;
    ok(await typing(bob, roomId, { typing: true, timeout: 500 }));
    const started = await sync(alice.api, { since });
    expect(typingIn(started, roomId)).toEqual([bob.userId]);
    const ended = await eventually(async () => {
      const s = await sync(alice.api, { since: started.next_batch, timeout: 2000 });
      const users = typingIn(s, roomId);
      return users && users.length === 0 ? users : undefined;
    }, 'typing to expire');
    expect(ended).toEqual([]);
  });

  it('is only for oneself, in a room one has joined', async () => {
    expectError(await typing(bob, roomId, { typing: true }, alice.userId), 403, 'M_FORBIDDEN');
    expectError(await typing(carol, roomId, { typing: true }), 403, 'M_FORBIDDEN');
    expectError(await typing(bob, '!nope:localhost', { typing: true }), 403, 'M_FORBIDDEN');
    expectError(await typing(bob, 'nope', { typing: true }), 400, 'M_INVALID_PARAM');
    expect(typingIn(await sync(alice.api), roomId) ?? []).not.toContain(carol.userId);
  });

  it('validates the body', async () => {
    expectError(await typing(bob, roomId, {}), 400, 'M_BAD_JSON');
    expectError(await typing(bob, roomId, { typing: 'yes' }), 400, 'M_BAD_JSON');
    expectError(await typing(bob, roomId, { typing: true, timeout: -5 }), 400, 'M_BAD_JSON');
    expectError(await typing(bob, roomId, { typing: true, timeout: 'long' }), 400, 'M_BAD_JSON');
  });
});
