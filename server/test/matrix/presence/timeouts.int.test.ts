// set_presence on /sync, and the timers: idle users go unavailable, gone ones offline.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, eventually, expectError, join, ok, registerSpecUser, sendMessage, sync, type SpecUser } from '../../support/spec-client.ts';

describe('presence from sync and timers', () => {
  let server: TestServer;
  const log = new CallLog();
  let ana: SpecUser;
  let ben: SpecUser;
  let cleo: SpecUser;
  let roomId: string;

  beforeAll(async () => {
    // Short timeouts, so that the timers' effects are seen within a test.
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-presence-'));
    const file = path.join(dir, 'tocsin.yaml');
    writeFileSync(file, 'presence:\n  unavailable_after_s: 1\n  offline_after_s: 1\n');
    server = await startTestServer({ TOCSIN_CONFIG: file });
    ana = await registerSpecUser(server.url, log);
    ben = await registerSpecUser(server.url, log);
    cleo = await registerSpecUser(server.url, log);
    roomId = await createRoom(ana.api, { preset: 'public_chat' });
    await join(ben.api, roomId);
    await join(cleo.api, roomId);
  });

  afterAll(async () => {
    await closeAllTestServers();
  });

  const statusOf = async (user: SpecUser) => ok(await ben.api.get(`${V3}/presence/${enc(user.userId)}/status`));
  const presenceIn = (body: { presence: { events: Array<{ sender: string; content: Record<string, unknown> }> } }, userId: string) =>
    body.presence.events.filter((e) => e.sender === userId).map((e) => e.content);

  it('refuses an unknown set_presence', async () => {
    expectError(await ana.api.get(`${V3}/sync?set_presence=away`), 400, 'M_INVALID_PARAM');
  });

  it('marks a syncing user online (default), and room mates see it once', async () => {
    const benToken = (await sync(ben.api, { set_presence: 'offline' })).next_batch as string;
    expect((await statusOf(ana)).presence).toBe('offline');
    await sync(ana.api);
    const seen = await sync(ben.api, { since: benToken, timeout: 5000, set_presence: 'offline' });
    const events = presenceIn(seen, ana.userId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ presence: 'online', currently_active: true });
    expect(typeof events[0]!.last_active_ago).toBe('number');
    // A second sync changes nothing: nothing new to see.
    await sync(ana.api);
    const again = await sync(ben.api, { since: seen.next_batch, timeout: 300, set_presence: 'offline' });
    expect(presenceIn(again, ana.userId)).toEqual([]);
  });

  it('does not mark a user syncing with set_presence=offline', async () => {
    await sync(cleo.api, { set_presence: 'offline' });
    expect((await statusOf(cleo)).presence).toBe('offline');
  });

  it('sets unavailable from set_presence, and an online sync does not override it', async () => {
    await sync(cleo.api, { set_presence: 'unavailable' });
    expect(await statusOf(cleo)).toMatchObject({ presence: 'unavailable', currently_active: false });
    // Cleo's client keeps syncing in the background: she stays unavailable until she acts.
    await sync(cleo.api);
    expect((await statusOf(cleo)).presence).toBe('unavailable');
  });

  it('goes unavailable while idle in a long-poll, online again on activity, offline after the last sync', async () => {
    const token = (await sync(ana.api)).next_batch as string;
    // Ana's client long-polls; she does nothing else.
    const poll = sync(ana.api, { since: token, timeout: 60_000 });
    await eventually(async () => ((await statusOf(ana)).presence === 'unavailable' ? true : undefined), 'ana idle');
    // She sends a message: active again (and her own message ends the long-poll).
    await sendMessage(ana.api, roomId, 'back');
    expect(await statusOf(ana)).toMatchObject({ presence: 'online', currently_active: true });
    await poll;
    // No sync any more: offline after a while.
    const gone = await eventually(async () => {
      const s = await statusOf(ana);
      return s.presence === 'offline' ? s : undefined;
    }, 'ana offline');
    expect(gone.currently_active).toBe(false);
  });
});
