// Stream positions for to-device messages (DESIGN.md, "Stream positions"): many senders at
// once while the recipients long-poll /sync, each acknowledging what it got by syncing on.
// Every message must arrive exactly once and in each sender's order; a reader that advanced
// past an uncommitted position would lose a message for good (acknowledged ones are deleted).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const SENDERS = 8;
const READERS = 2;
const PER_SENDER = 6;
const DEADLINE_MS = 90_000;

let users = 0;

async function quickUser(baseUrl: string): Promise<TestUser> {
  const localpart = `td${process.pid}x${++users}x${Math.random().toString(36).slice(2, 7)}`;
  const res = await new Api(baseUrl).post('/_matrix/client/v3/register', { username: localpart, auth: { type: 'm.login.dummy' } });
  if (res.status !== 200) throw new Error(`register ${localpart}: ${res.status} ${JSON.stringify(res.body)}`);
  return { userId: res.body.user_id, token: res.body.access_token, deviceId: res.body.device_id, api: new Api(baseUrl, res.body.access_token), password: '' };
}

async function call(user: TestUser, method: string, path: string, body?: unknown): Promise<any> {
  const res = await user.api.request(method, path, body);
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

describe('to-device messages under concurrent senders', () => {
  let server: TestServer;
  let senders: TestUser[];
  let readers: TestUser[];

  beforeAll(async () => {
    server = await startTestServer();
    senders = await Promise.all(Array.from({ length: SENDERS }, () => quickUser(server.url)));
    readers = await Promise.all(Array.from({ length: READERS }, () => quickUser(server.url)));
  }, 60_000);

  afterAll(async () => {
    await closeAllTestServers();
  });

  it('gives every reader every message exactly once, in each sender’s order', async () => {
    const starts = await Promise.all(readers.map(async (r) => (await call(r, 'GET', '/_matrix/client/v3/sync?timeout=0')).next_batch as string));
    const got = readers.map(() => new Map<string, number[]>());
    let done = false;
    const read = async (i: number): Promise<string> => {
      let since = starts[i]!;
      const end = Date.now() + DEADLINE_MS;
      while (!done && Date.now() < end) {
        const s = await call(readers[i]!, 'GET', `/_matrix/client/v3/sync?timeout=5000&since=${enc(since)}`);
        for (const e of s.to_device.events) got[i]!.set(e.sender, [...(got[i]!.get(e.sender) ?? []), e.content.n]);
        since = s.next_batch;
        const total = [...got[i]!.values()].reduce((a, b) => a + b.length, 0);
        if (total >= SENDERS * PER_SENDER) return since;
      }
      return since;
    };
    const send = async (s: TestUser) => {
      for (let n = 0; n < PER_SENDER; n++) {
        const messages = Object.fromEntries(readers.map((r) => [r.userId, { [r.deviceId]: { n } }]));
        await call(s, 'PUT', `/_matrix/client/v3/sendToDevice/org.example.seq/${n}`, { messages });
      }
    };
    const reading = readers.map((_r, i) => read(i));
    await Promise.all(senders.map(send));
    const finals = await Promise.all(reading);
    done = true;
    const expected = Array.from({ length: PER_SENDER }, (_v, n) => n);
    for (const g of got) {
      expect(g.size).toBe(SENDERS);
      for (const s of senders) expect(g.get(s.userId)).toEqual(expected);
    }
    // One more sync from each reader's last token acknowledges the rest: nothing is left.
    for (let i = 0; i < READERS; i++) {
      const s = await call(readers[i]!, 'GET', `/_matrix/client/v3/sync?timeout=0&since=${enc(finals[i]!)}`);
      expect(s.to_device.events).toEqual([]);
    }
    const [row] = await server.services.db('to_device_messages').count<{ n: string }[]>({ n: '*' });
    expect(Number(row!.n)).toBe(0);
  }, 120_000);
});
