// The presence service on its own, with a clock the test moves: what set_presence does, the
// idle and offline timers, and two processes linked as the PostgreSQL relay links them.
import { describe, expect, it } from 'vitest';
import { PresenceService } from '../../../src/matrix/presence/presence.ts';
import { NotifyBus, type Change } from '../../../src/notify/bus.ts';

const timeouts = { idleMs: 300_000, offlineMs: 30_000 };
const ANA = '@ana:localhost';

/** Two processes: what one publishes, the other receives as remote (as pg-relay.ts does). */
function twoNodes() {
  let t = 1_000_000;
  const now = () => t;
  const relayed: Change[] = [];
  const busA = new NotifyBus();
  const busB = new NotifyBus();
  busA.onLocalPublish((c) => (relayed.push(c), busB.publishRemote(c)));
  busB.onLocalPublish((c) => (relayed.push(c), busA.publishRemote(c)));
  const a = new PresenceService({ bus: busA, now, timeouts });
  const b = new PresenceService({ bus: busB, now, timeouts });
  return { a, b, relayed, advance: (ms: number) => (t += ms) };
}

describe('presence service', () => {
  it('follows set_presence: online by default, unavailable kept, offline untouched', async () => {
    const { a } = twoNodes();
    (await a.syncing(ANA, 'offline'))();
    expect(a.get(ANA).presence).toBe('offline');
    const end = await a.syncing(ANA, 'online');
    expect(a.get(ANA)).toMatchObject({ presence: 'online', currently_active: true, last_active_ago: 0 });
    end();
    (await a.syncing(ANA, 'unavailable'))();
    expect(a.get(ANA).presence).toBe('unavailable');
    (await a.syncing(ANA, 'online'))();
    expect(a.get(ANA).presence).toBe('unavailable');
    a.activity(ANA);
    await Promise.resolve();
    expect(a.get(ANA).presence).toBe('online');
  });

  it('goes unavailable when idle, offline when no sync runs, and says so once each', async () => {
    const { a, advance } = twoNodes();
    const changes: string[] = [];
    a.onChange((_u, c) => changes.push(c.presence));
    const end = await a.syncing(ANA, 'online');
    advance(timeouts.idleMs - 1);
    await a.sweep();
    expect(a.get(ANA).presence).toBe('online');
    advance(1);
    await a.sweep();
    expect(a.get(ANA)).toMatchObject({ presence: 'unavailable', currently_active: false, last_active_ago: timeouts.idleMs });
    // Still syncing: not offline however long it lasts.
    advance(timeouts.offlineMs * 10);
    await a.sweep();
    expect(a.get(ANA).presence).toBe('unavailable');
    end();
    advance(timeouts.offlineMs);
    await a.sweep();
    await a.sweep();
    expect(a.get(ANA).presence).toBe('offline');
    expect(changes).toEqual(['online', 'unavailable', 'offline']);
  });

  it('relays changes only, and hands the timers to the process that saw the latest activity', async () => {
    const { a, b, relayed, advance } = twoNodes();
    await a.set(ANA, 'online', 'Au PC');
    expect(b.get(ANA)).toMatchObject({ presence: 'online', status_msg: 'Au PC' });
    expect(b.changedSince(0).map((p) => p.userId)).toEqual([ANA]);
    // Repeats and activity on the owning process cost no message.
    const sent = relayed.length;
    (await a.syncing(ANA, 'online'))();
    a.activity(ANA);
    await Promise.resolve();
    expect(relayed.length).toBe(sent);
    // Ana's client now reaches b: one message moves her timers there, and b's view is unchanged.
    const serialOnB = b.changedSince(undefined)[0]!;
    const end = await b.syncing(ANA, 'online');
    expect(relayed.length).toBe(sent + 1);
    expect(b.changedSince(undefined)[0]).toEqual(serialOnB);
    // a no longer decides: its sweep, long after, changes nothing; b's does (she still syncs there).
    advance(timeouts.offlineMs * 2);
    await a.sweep();
    expect(a.get(ANA).presence).toBe('online');
    advance(timeouts.idleMs);
    await b.sweep();
    expect(b.get(ANA).presence).toBe('unavailable');
    expect(a.get(ANA).presence).toBe('unavailable');
    end();
  });

  it('takes the timers back when a sync ends on a process that lost them meanwhile', async () => {
    const { a, b, advance } = twoNodes();
    // Ana long-polls on a, and her other client sets a status through b meanwhile.
    const end = await a.syncing(ANA, 'online');
    await b.set(ANA, 'online', 'En route');
    end();
    await Promise.resolve();
    // a owns her timers again: b's sweep, however late, does not send her offline...
    advance(timeouts.offlineMs * 2);
    await b.sweep();
    expect(b.get(ANA).presence).toBe('online');
    // ...and a's does, as no sync runs on a any more.
    await a.sweep();
    expect(b.get(ANA)).toMatchObject({ presence: 'offline', status_msg: 'En route' });
  });
});
