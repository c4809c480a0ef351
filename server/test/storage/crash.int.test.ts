import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { enc } from '../support/client.ts';
import { makeDatabase, testDatabaseKind } from '../support/server.ts';
import { spawnServer, type ServerProcess } from '../support/server-process.ts';

/**
 * A crash in the middle of a burst of sends: the real server process is killed with SIGKILL
 * while messages are being sent and a client is syncing, then started again on the same data.
 * Every send that was answered 200 must still be there (by /event, /messages and /sync), exactly
 * once; a send retried with the same transaction id must give the same event; the client's sync
 * token from before the crash must carry on without losing or repeating anything.
 *
 * PGlite runs with fsync off: a commit survives a killed process (the kernel has the bytes),
 * not a power cut; this test kills the process, which is what it can promise.
 */

const USERS = 6;
const LANES = 16;
const PER_LANE = 60;
const KILL_AFTER_ACKS = 150;

interface User {
  userId: string;
  token: string;
}

interface Attempt {
  txnId: string;
  seq: number;
  sender: User;
  /** The event id of a 200 answer before the crash. */
  acked?: string;
}

async function call(url: string, token: string | undefined, method: string, p: string, body?: unknown, signal?: AbortSignal): Promise<any> {
  const res = await fetch(`${url}${p}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal,
  });
  const json = await res.json();
  if (res.status !== 200) throw Object.assign(new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`), { status: res.status });
  return json;
}

async function register(url: string, name: string): Promise<User> {
  // No password: argon2 has nothing to do with what is tested here.
  const body = await call(url, undefined, 'POST', '/_matrix/client/v3/register', { username: name, auth: { type: 'm.login.dummy' } });
  return { userId: body.user_id, token: body.access_token };
}

/** The room's messages as /messages gives them from the start (dir=f). */
async function messagesFromStart(url: string, token: string, roomId: string): Promise<any[]> {
  const out: any[] = [];
  let from: string | undefined = 's0_0';
  while (from) {
    const page = await call(url, token, 'GET', `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=f&limit=100&from=${enc(from)}`);
    out.push(...page.chunk.filter((e: any) => e.type === 'm.room.message'));
    from = page.end;
  }
  return out;
}

const sendPath = (roomId: string, txnId: string) => `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${txnId}`;

describe('crash in the middle of a burst (SIGKILL)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('keeps every acknowledged event exactly once, and txn ids still deduplicate after the restart', { timeout: 240_000 }, async () => {
    const database = await makeDatabase(testDatabaseKind());
    cleanups.push(() => database.drop());
    let server: ServerProcess = await spawnServer(database.env);
    cleanups.push(() => server.stop());
    const url = server.url; // the restart listens on the same port

    const users: User[] = [];
    for (let i = 0; i < USERS; i++) users.push(await register(url, `crash${i}`));
    const readerUser = await register(url, 'crashreader');
    const roomId = (await call(url, users[0]!.token, 'POST', '/_matrix/client/v3/createRoom', { preset: 'public_chat' })).room_id as string;
    for (const u of [...users.slice(1), readerUser]) await call(url, u.token, 'POST', `/_matrix/client/v3/join/${enc(roomId)}`, {});

    // A client syncing through the crash, the way matrix-js-sdk does: long-polls, and retries
    // with the same token while the server is away.
    const filter = enc(JSON.stringify({ room: { timeline: { limit: 100 } } }));
    let since: string = (await call(url, readerUser.token, 'GET', `/_matrix/client/v3/sync?timeout=0&filter=${filter}`)).next_batch;
    const received: string[] = [];
    const stopReading = new AbortController();
    let readerDone = false;
    const reading = (async () => {
      while (!stopReading.signal.aborted) {
        let body: any;
        try {
          body = await call(url, readerUser.token, 'GET', `/_matrix/client/v3/sync?since=${enc(since)}&timeout=30000&filter=${filter}`, undefined, stopReading.signal);
        } catch (err) {
          if (stopReading.signal.aborted) break;
          if ((err as { status?: number }).status !== undefined) throw err; // an HTTP error, not the crash
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        const room = body.rooms?.join?.[roomId];
        if (room) {
          let events: any[] = room.timeline.events;
          if (room.timeline.limited) {
            // A gap: fill it from /messages back to the previous token, as clients do.
            const gap: any[] = [];
            let from: string | undefined = room.timeline.prev_batch;
            while (from) {
              const page = await call(url, readerUser.token, 'GET', `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=100&from=${enc(from)}&to=${enc(since)}`);
              gap.push(...page.chunk);
              from = page.end;
            }
            events = [...gap.reverse(), ...events];
          }
          for (const e of events) if (e.type === 'm.room.message') received.push(e.event_id);
        }
        since = body.next_batch;
      }
      readerDone = true;
    })();

    // The burst: lanes of sequential sends, all lanes at once, killed part-way.
    const attempts: Attempt[] = [];
    let acks = 0;
    let killed = false;
    const lane = async (l: number) => {
      const sender = users[l % USERS]!;
      for (let k = 0; k < PER_LANE && !killed; k++) {
        const attempt: Attempt = { txnId: `crash-${l}-${k}`, seq: l * PER_LANE + k, sender };
        attempts.push(attempt);
        try {
          const res = await call(url, sender.token, 'PUT', sendPath(roomId, attempt.txnId), { msgtype: 'm.text', body: `seq ${attempt.seq}`, seq: attempt.seq });
          attempt.acked = res.event_id;
          if (++acks === KILL_AFTER_ACKS) {
            killed = true;
            process.kill(server.pid, 'SIGKILL');
          }
        } catch {
          return; // the server is gone
        }
      }
    };
    await Promise.all(Array.from({ length: LANES }, (_, l) => lane(l)));
    const exit = await server.exited;
    expect(exit.signal).toBe('SIGKILL');
    const acked = attempts.filter((a) => a.acked);
    const unanswered = attempts.filter((a) => !a.acked);
    expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    expect(unanswered.length).toBeGreaterThan(0); // sends were in flight when it died

    // The kill left the embedded database's pid file behind; a dead pid does not hold the lock.
    const pidFile = path.join(database.dataDir, 'tocsin.pid');
    if (testDatabaseKind() === 'pglite') {
      expect(existsSync(pidFile)).toBe(true);
      expect(Number(readFileSync(pidFile, 'utf8').split('\n')[0])).toBe(server.pid);
    }
    const crashedOutput = server.output();
    server = await spawnServer(database.env, server.port).catch((err: Error) => {
      throw new Error(`${err.message}\n--- before the crash:\n${crashedOutput}`);
    });
    if (testDatabaseKind() === 'pglite') expect(Number(readFileSync(pidFile, 'utf8').split('\n')[0])).toBe(server.pid);

    // What the database kept: every acknowledged send, and maybe some that died unanswered.
    const timelineAfterCrash = await messagesFromStart(url, readerUser.token, roomId);
    const eventOfSeq = new Map<number, string>(timelineAfterCrash.map((e) => [e.content.seq, e.event_id]));
    expect(eventOfSeq.size).toBe(timelineAfterCrash.length);
    for (const a of acked) expect(eventOfSeq.get(a.seq)).toBe(a.acked);

    // Every acknowledged send is readable, and retrying it gives the same event.
    for (const a of acked) {
      const e = await call(url, a.sender.token, 'GET', `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(a.acked!)}`);
      expect(e.content.seq).toBe(a.seq);
      const again = await call(url, a.sender.token, 'PUT', sendPath(roomId, a.txnId), { msgtype: 'm.text', body: `seq ${a.seq}`, seq: a.seq });
      expect(again.event_id).toBe(a.acked);
    }
    // The sends that got no answer are retried the way a client does: same txn id. Those that
    // had committed before the crash give their event back; the others are sent now.
    const eventOfTxn = new Map<string, string>(acked.map((a) => [a.txnId, a.acked!]));
    for (const a of unanswered) {
      const res = await call(url, a.sender.token, 'PUT', sendPath(roomId, a.txnId), { msgtype: 'm.text', body: `seq ${a.seq}`, seq: a.seq });
      const committed = eventOfSeq.get(a.seq);
      if (committed) expect(res.event_id).toBe(committed);
      eventOfTxn.set(a.txnId, res.event_id);
      const twice = await call(url, a.sender.token, 'PUT', sendPath(roomId, a.txnId), { msgtype: 'm.text', body: `seq ${a.seq}`, seq: a.seq });
      expect(twice.event_id).toBe(res.event_id);
    }

    if (process.env.TOCSIN_TEST_VERBOSE) {
      const committedUnanswered = unanswered.filter((a) => eventOfSeq.has(a.seq)).length;
      console.log(`acked ${acked.length}, unanswered ${unanswered.length} (of which committed before the kill: ${committedUnanswered})`);
    }

    // /messages from the start: one event per transaction, no duplicates, nothing else.
    const timeline = await messagesFromStart(url, readerUser.token, roomId);
    const ids = timeline.map((e) => e.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    const seqs = timeline.map((e) => e.content.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(new Set(ids)).toEqual(new Set(eventOfTxn.values()));
    expect(timeline.length).toBe(attempts.length);

    // The syncing client, which kept its token across the crash, got all of them exactly once,
    // in timeline order.
    const deadline = Date.now() + 60_000;
    while (received.length < ids.length && Date.now() < deadline && !readerDone) await new Promise((r) => setTimeout(r, 50));
    stopReading.abort();
    await reading;
    const last = await call(url, readerUser.token, 'GET', `/_matrix/client/v3/sync?since=${enc(since)}&timeout=0&filter=${filter}`);
    for (const e of last.rooms?.join?.[roomId]?.timeline.events ?? []) if (e.type === 'm.room.message') received.push(e.event_id);
    const dupes = received.filter((id, i) => received.indexOf(id) !== i);
    expect(dupes).toEqual([]);
    expect(received).toEqual(ids);

    await server.stop();
    const stopped = await server.exited;
    expect(stopped.code).toBe(0);
    if (testDatabaseKind() === 'pglite') expect(existsSync(pidFile)).toBe(false);
  });
});
