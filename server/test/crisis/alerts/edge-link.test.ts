import { randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeLink } from '../../support/edge-link.ts';

// The emulated EDGE link used by the alert tests and the benchmark carries bytes faithfully:
// nothing lost, reordered or duplicated under back-pressure, closes passed on, and the link
// can be lost and come back. (Its timing is the benchmark's business, never a test's.)

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function echoServer(): Promise<number> {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    s.pipe(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as AddressInfo).port;
}

/** A fast link with every mechanism on (pieces, pacing, latency, handshake, stalls). */
async function fastLink(port: number): Promise<EdgeLink> {
  const link = await EdgeLink.start({ target: { port }, downKbps: 80_000, upKbps: 40_000, latencyMs: 5, stalls: { everyMs: 40, forMs: 10 } });
  cleanups.push(() => link.close());
  return link;
}

function connect(link: EdgeLink): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: link.port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (b: Buffer) => chunks.push(b));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

describe('the emulated EDGE link', () => {
  it('carries every byte once and in order, both ways, under back-pressure, and counts them', async () => {
    const link = await fastLink(await echoServer());
    const sock = await connect(link);
    const payload = randomBytes(300_000);
    const echoed = readAll(sock);
    for (let i = 0; i < payload.length; i += 7_000) sock.write(payload.subarray(i, i + 7_000));
    sock.end();
    expect((await echoed).equals(payload)).toBe(true);
    expect(link.counters()).toEqual({ up: payload.length, down: payload.length, connections: 1 });
  });

  it('shares the link between connections without mixing their bytes', async () => {
    const link = await fastLink(await echoServer());
    const payloads = [randomBytes(40_000), randomBytes(25_000), randomBytes(60_000)];
    const results = await Promise.all(
      payloads.map(async (p) => {
        const sock = await connect(link);
        const echoed = readAll(sock);
        sock.end(p);
        return echoed;
      }),
    );
    results.forEach((r, i) => expect(r.equals(payloads[i]!)).toBe(true));
    expect(link.counters().connections).toBe(3);
  });

  it('cuts every connection when the link is lost, refuses new ones while down, and carries on after', async () => {
    const link = await fastLink(await echoServer());
    const sock = await connect(link);
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => undefined);
    link.down = true;
    link.drop();
    await closed;

    // While down, a new connection is reset as soon as the link sees it.
    const refused = net.connect({ port: link.port, host: '127.0.0.1' });
    refused.on('error', () => undefined);
    await new Promise<void>((resolve) => refused.once('close', () => resolve()));
    expect(link.counters().connections).toBe(1);

    link.down = false;
    const again = await connect(link);
    const echoed = readAll(again);
    again.end('back');
    expect((await echoed).toString()).toBe('back');
  });
});
