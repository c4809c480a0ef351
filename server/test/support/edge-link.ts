import net, { type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

// An emulated 2G/EDGE link between a client and the server, as a userspace TCP proxy on
// 127.0.0.1 (kernel netem is not available on these machines; see DESIGN.md).
//
//   client ──► 127.0.0.1:<link port> ══ up: 40 kbit/s, 250 ms ══► server
//   client ◄────────────────────────── ══ down: 80 kbit/s, 250 ms ═ server
//
// What it models, per direction ("lane"), shared by every connection of one link:
//  - the rate: a token bucket in its virtual-time form (GCRA). A piece of n bytes costs
//    n / rate of air time; with the default depth of 0 the lane is a plain serialiser (a piece
//    leaves when the previous one has been sent), a deeper bucket lets a burst through at once;
//  - the latency: every piece lands at the far end `latencyMs` after its last byte was sent,
//    in the order it was sent;
//  - TCP's handshake: a new connection's first bytes wait one round trip (SYN, SYN-ACK), as
//    they would on the real link, so keeping connections alive pays off as it does on a phone;
//  - stalls: the radio pauses (cell reselection, a tunnel). Periodic ones (`stalls`) or one
//    now (`stall(ms)`); during a stall nothing leaves either lane, what is in the air lands;
//  - loss of the link: `drop()` resets every connection, `down = true` refuses new ones;
//  - counters of the bytes that landed in each direction (TCP payload: the bytes an HTTP
//    client and server exchange, without TCP/IP headers or TLS, which a real link adds).
// Only node:net and timers; nothing here needs root.

export interface EdgeLinkOptions {
  /** The server behind the link. */
  target: { host?: string; port: number };
  /** Server to client, kbit/s (default 80; Infinity: no pacing, when tbf does it, see edge-link-tbf.ts). */
  downKbps?: number;
  /** Client to server, kbit/s (default 40). */
  upKbps?: number;
  /** One-way latency in ms, each direction (default 250). */
  latencyMs?: number;
  /** Token bucket depth in bytes beyond the piece being sent (default 0: no burst). */
  burstBytes?: number;
  /** Data is cut into pieces of at most this size before pacing, so it trickles (default 512). */
  pieceBytes?: number;
  /** A new connection's first bytes wait one round trip, as TCP's handshake does (default true). */
  handshake?: boolean;
  /** Every `everyMs` the link pauses for `forMs` (the pause ends each period). */
  stalls?: { everyMs: number; forMs: number };
}

export interface EdgeCounters {
  /** Bytes that crossed from the client to the server. */
  up: number;
  /** Bytes that crossed from the server to the client. */
  down: number;
  /** TCP connections the client opened through the link. */
  connections: number;
}

type Dir = 'up' | 'down';
type Settings = Required<Omit<EdgeLinkOptions, 'stalls'>> & Pick<EdgeLinkOptions, 'stalls'>;

/** Above this many bytes queued on one connection and direction, its sender is paused. */
const HIGH_WATER = 64 * 1024;

/** One client connection and its twin towards the server. */
class Conn {
  readonly client: Socket;
  readonly server: Socket;
  readonly queued = { up: 0, down: 0 };
  /** Client bytes held until the handshake's round trip is over (null once it is). */
  held: Array<Buffer | null> | null = [];
  dead = false;

  constructor(client: Socket, server: Socket) {
    this.client = client;
    this.server = server;
  }

  /** A piece lands: write it to the far socket (null: the sender closed its side). */
  land(dir: Dir, buf: Buffer | null): void {
    if (this.dead) return;
    const dest = dir === 'up' ? this.server : this.client;
    if (buf === null) {
      dest.end();
      return;
    }
    dest.write(buf);
    this.queued[dir] -= buf.length;
    const source = dir === 'up' ? this.client : this.server;
    if (source.isPaused() && this.queued[dir] < HIGH_WATER / 2) source.resume();
  }

  /** Resets both sockets: each side sees its connection die (ECONNRESET), as on a lost link. */
  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    for (const s of [this.client, this.server]) if (!s.destroyed) s.resetAndDestroy();
  }
}

interface Piece {
  conn: Conn;
  buf: Buffer | null;
  /** When the piece reached the sender's end of the link. */
  readyAt: number;
}

interface InFlight {
  conn: Conn;
  buf: Buffer | null;
  landsAt: number;
}

/** One direction of the link: a token bucket, then the propagation delay. */
class Lane {
  /** Bytes that landed at the far end. */
  bytes = 0;
  readonly #dir: Dir;
  readonly #link: EdgeLink;
  readonly #bytesPerMs: number;
  readonly #burstMs: number;
  readonly #latencyMs: number;
  /** GCRA's theoretical arrival time: when the bucket has paid for everything sent so far. */
  #tat = 0;
  #lastLanding = 0;
  #waiting: Piece[] = [];
  #flight: InFlight[] = [];
  #pumpTimer: NodeJS.Timeout | undefined;
  #landTimer: NodeJS.Timeout | undefined;

  constructor(dir: Dir, link: EdgeLink, kbps: number, burstBytes: number, latencyMs: number) {
    this.#dir = dir;
    this.#link = link;
    this.#bytesPerMs = (kbps * 1000) / 8 / 1000;
    this.#burstMs = burstBytes / this.#bytesPerMs;
    this.#latencyMs = latencyMs;
  }

  /** Queues bytes (or the end of the stream, null) from one connection. */
  push(conn: Conn, buf: Buffer | null, pieceBytes: number): void {
    const readyAt = performance.now();
    if (buf === null) this.#waiting.push({ conn, buf, readyAt });
    else {
      for (let i = 0; i < buf.length; i += pieceBytes) this.#waiting.push({ conn, buf: buf.subarray(i, i + pieceBytes), readyAt });
    }
    this.pump();
  }

  /** Sends every piece the bucket allows now; sleeps until the next one conforms. */
  pump(): void {
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    const now = performance.now();
    while (this.#waiting.length > 0) {
      const piece = this.#waiting[0]!;
      const cost = piece.buf === null ? 0 : piece.buf.length / this.#bytesPerMs;
      // The ideal departure time (possibly a little in the past when a timer fired late: the
      // schedule does not drift), pushed past any stall.
      const leaves = this.#link.afterStall(Math.max(piece.readyAt, this.#tat - this.#burstMs));
      if (leaves > now) {
        this.#pumpTimer = setTimeout(() => this.pump(), Math.max(1, Math.ceil(leaves - now)));
        return;
      }
      this.#waiting.shift();
      this.#tat = Math.max(this.#tat, leaves) + cost;
      // It lands once its last byte is sent plus the latency, never before an earlier piece.
      this.#lastLanding = Math.max(this.#lastLanding, leaves + cost + this.#latencyMs);
      this.#flight.push({ conn: piece.conn, buf: piece.buf, landsAt: this.#lastLanding });
      if (this.#landTimer === undefined) this.#scheduleLanding(now);
    }
  }

  #scheduleLanding(now: number): void {
    const head = this.#flight[0];
    if (head) this.#landTimer = setTimeout(() => this.#land(), Math.max(0, head.landsAt - now));
  }

  #land(): void {
    this.#landTimer = undefined;
    const now = performance.now();
    while (this.#flight.length > 0 && this.#flight[0]!.landsAt <= now) {
      const { conn, buf } = this.#flight.shift()!;
      if (conn.dead) continue;
      if (buf !== null) this.bytes += buf.length;
      conn.land(this.#dir, buf);
    }
    this.#scheduleLanding(now);
  }

  /** Forgets what a closed or cut connection still had on this lane (sent pieces keep their air time). */
  forget(conn: Conn): void {
    this.#waiting = this.#waiting.filter((p) => p.conn !== conn);
    this.#flight = this.#flight.filter((p) => p.conn !== conn);
  }

  stop(): void {
    clearTimeout(this.#pumpTimer);
    clearTimeout(this.#landTimer);
    this.#waiting = [];
    this.#flight = [];
  }
}

export class EdgeLink {
  readonly port: number;
  /** http://127.0.0.1:<port>: point the client here instead of at the server. */
  readonly url: string;
  /** While true, the link is gone: new connections are reset at once. */
  down = false;
  #connections = 0;
  readonly #server: net.Server;
  readonly #conns = new Set<Conn>();
  readonly #lanes: Record<Dir, Lane>;
  readonly #opts: Settings;
  readonly #startedAt = performance.now();
  #stalls: Array<{ from: number; until: number }> = [];

  private constructor(server: net.Server, opts: Settings) {
    this.#server = server;
    this.#opts = opts;
    this.port = (server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
    this.#lanes = {
      up: new Lane('up', this, opts.upKbps, opts.burstBytes, opts.latencyMs),
      down: new Lane('down', this, opts.downKbps, opts.burstBytes, opts.latencyMs),
    };
    server.on('connection', (client) => this.#accept(client));
  }

  /** Listens on 127.0.0.1 (a free port) in front of `options.target`. */
  static async start(options: EdgeLinkOptions): Promise<EdgeLink> {
    const opts: Settings = {
      target: options.target,
      downKbps: options.downKbps ?? 80,
      upKbps: options.upKbps ?? 40,
      latencyMs: options.latencyMs ?? 250,
      burstBytes: options.burstBytes ?? 0,
      pieceBytes: options.pieceBytes ?? 512,
      handshake: options.handshake ?? true,
      stalls: options.stalls,
    };
    if (opts.stalls && !(opts.stalls.forMs >= 0 && opts.stalls.forMs < opts.stalls.everyMs)) throw new Error('stalls.forMs must be below stalls.everyMs');
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new EdgeLink(server, opts);
  }

  /** Bytes that crossed each way so far, and connections opened. */
  counters(): EdgeCounters {
    return { up: this.#lanes.up.bytes, down: this.#lanes.down.bytes, connections: this.#connections };
  }

  /** Pauses both directions for `ms` from now (what is already in the air still lands). */
  stall(ms: number): void {
    const now = performance.now();
    this.#stalls.push({ from: now, until: now + ms });
  }

  /** Resets every connection at once, as losing the cell does; the client sees its sockets die. */
  drop(): void {
    for (const conn of [...this.#conns]) this.#cut(conn);
  }

  /** The first time at or after `t` when the link is not stalled. */
  afterStall(t: number): number {
    this.#stalls = this.#stalls.filter((s) => s.until > performance.now() - 60_000);
    for (let moved = true; moved; ) {
      moved = false;
      for (const s of this.#stalls) {
        if (t >= s.from && t < s.until) {
          t = s.until;
          moved = true;
        }
      }
      const p = this.#opts.stalls;
      if (p && p.forMs > 0) {
        // Period k stalls over [its end - forMs, its end). Jump to that exact end: adding the
        // rest of a period computed with % can leave t a rounding error short of it, forever.
        const end = this.#startedAt + (Math.floor((t - this.#startedAt) / p.everyMs) + 1) * p.everyMs;
        if (t >= end - p.forMs && t < end) {
          t = end;
          moved = true;
        }
      }
    }
    return t;
  }

  async close(): Promise<void> {
    this.drop();
    this.#lanes.up.stop();
    this.#lanes.down.stop();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.down) {
      client.resetAndDestroy();
      return;
    }
    this.#connections++;
    const server = net.connect({ host: this.#opts.target.host ?? '127.0.0.1', port: this.#opts.target.port, allowHalfOpen: true, noDelay: true });
    const conn = new Conn(client, server);
    this.#conns.add(conn);
    const { up, down } = this.#lanes;
    const piece = this.#opts.pieceBytes;

    const send = (dir: Dir, buf: Buffer | null) => {
      if (conn.dead) return;
      const source = dir === 'up' ? client : server;
      if (buf !== null) {
        conn.queued[dir] += buf.length;
        if (conn.queued[dir] > HIGH_WATER) source.pause();
      }
      // Until the handshake's round trip is over, the client's bytes wait at its end.
      if (dir === 'up' && conn.held !== null) conn.held.push(buf);
      else (dir === 'up' ? up : down).push(conn, buf, piece);
    };
    const release = () => {
      const held = conn.held ?? [];
      conn.held = null;
      for (const buf of held) if (!conn.dead) up.push(conn, buf, piece);
    };
    if (this.#opts.handshake) setTimeout(release, 2 * this.#opts.latencyMs);
    else release();

    client.on('data', (buf: Buffer) => send('up', buf));
    client.on('end', () => send('up', null));
    server.on('data', (buf: Buffer) => send('down', buf));
    server.on('end', () => send('down', null));
    // An error on either side cuts both, as a reset would.
    client.on('error', () => this.#cut(conn));
    server.on('error', () => this.#cut(conn));
    const closed = () => {
      if (client.destroyed && server.destroyed) this.#forget(conn);
    };
    client.on('close', closed);
    server.on('close', closed);
  }

  #cut(conn: Conn): void {
    conn.destroy();
    this.#forget(conn);
  }

  #forget(conn: Conn): void {
    this.#conns.delete(conn);
    this.#lanes.up.forget(conn);
    this.#lanes.down.forget(conn);
  }
}
