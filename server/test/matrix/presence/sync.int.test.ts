// Presence in /sync: the changes of users sharing a room, once each, and nobody else's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, join, ok, registerSpecUser, sync, type SpecUser } from '../../support/spec-client.ts';

describe('presence in sync', () => {
  let server: TestServer;
  const log = new CallLog();
  let ana: SpecUser;
  let ben: SpecUser;
  let cleo: SpecUser;

  beforeAll(async () => {
    server = await startTestServer();
    ana = await registerSpecUser(server.url, log);
    ben = await registerSpecUser(server.url, log);
    cleo = await registerSpecUser(server.url, log);
    const roomId = await createRoom(ana.api, { preset: 'public_chat' });
    await join(ben.api, roomId);
    // Cleo is in a room of her own: she shares nothing with Ana.
    await createRoom(cleo.api, {});
  });

  afterAll(async () => {
    await closeAllTestServers();
  });

  const setPresence = async (user: SpecUser, presence: string, statusMsg?: string) =>
    ok(await user.api.put(`${V3}/presence/${enc(user.userId)}/status`, { presence, ...(statusMsg !== undefined ? { status_msg: statusMsg } : {}) }));
  const presenceOf = (body: { presence: { events: Array<{ sender: string; content: Record<string, unknown> }> } }, userId: string) =>
    body.presence.events.filter((e) => e.sender === userId);

  it('wakes the syncs of room mates with the change, once', async () => {
    const benToken = (await sync(ben.api)).next_batch as string;
    const cleoToken = (await sync(cleo.api)).next_batch as string;
    // Ben is long-polling when Ana changes her status; the poll outlasts the test's own time
    // limit, so only the wake-up can end it in time.
    const waiting = sync(ben.api, { since: benToken, timeout: 120_000 });
    await new Promise((r) => setTimeout(r, 200));
    await setPresence(ana, 'unavailable', 'En intervention');
    const got = await waiting;
    const events = presenceOf(got, ana.userId);
    expect(events).toHaveLength(1);
    expect(events[0]!.content).toMatchObject({ presence: 'unavailable', status_msg: 'En intervention', currently_active: false });
    expect(typeof events[0]!.content.last_active_ago).toBe('number');

    // Nothing new: the next sync carries no presence; setting the same status again is no change.
    await setPresence(ana, 'unavailable', 'En intervention');
    const again = await sync(ben.api, { since: got.next_batch, timeout: 300 });
    expect(presenceOf(again, ana.userId)).toEqual([]);

    // Cleo shares no room with Ana: she never hears of her.
    const cleoSync = await sync(cleo.api, { since: cleoToken, timeout: 300 });
    expect(presenceOf(cleoSync, ana.userId)).toEqual([]);

    // A real change comes through; Ana sees her own too.
    await setPresence(ana, 'online');
    const changed = await sync(ben.api, { since: again.next_batch, timeout: 5000 });
    expect(presenceOf(changed, ana.userId).map((e) => e.content.presence)).toEqual(['online']);
    expect(presenceOf(await sync(ana.api), ana.userId).map((e) => e.content.presence)).toEqual(['online']);
  });

  it('gives the known presence on an initial sync, as filters allow', async () => {
    await setPresence(ben, 'online', 'Disponible');
    expect(presenceOf(await sync(ana.api), ben.userId)[0]?.content).toMatchObject({ presence: 'online', status_msg: 'Disponible' });
    expect((await sync(ana.api, { filter: { presence: { not_types: ['m.presence'] } } })).presence.events).toEqual([]);
    expect((await sync(ana.api, { filter: { presence: { limit: 0 } } })).presence.events).toEqual([]);
    expect(presenceOf(await sync(ana.api, { filter: { presence: { senders: [ana.userId] } } }), ben.userId)).toEqual([]);
    expect(presenceOf(await sync(cleo.api), ben.userId)).toEqual([]);
  });
});
