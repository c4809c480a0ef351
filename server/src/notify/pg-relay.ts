import pg from 'pg';
import type { Logger } from '../logger.ts';
import type { Change, NotifyBus, PresenceChange } from './bus.ts';

const CHANNEL = 'tocsin_changes';
// NOTIFY payloads are limited to 8000 bytes; a bigger change is sent as "everyone wake up".
const MAX_PAYLOAD = 7900;

interface WireChange {
  p?: number;
  r?: string[];
  u?: string[];
  all?: true;
  /** Typing changes: [room, user, until]. */
  t?: Array<[string, string, number]>;
  /** Presence: [user, presence, status_msg or null, last active]. */
  s?: Array<[string, PresenceChange['presence'], string | null, number]>;
  /** The sending process, so that it ignores its own notifications. */
  n: string;
}

/**
 * Cross-process wake-ups over PostgreSQL LISTEN/NOTIFY: several `tocsin serve` processes on one
 * database see each other's commits. Local changes are batched per event-loop turn into one
 * NOTIFY; remote ones are replayed into the local bus.
 */
export class PgRelay {
  readonly #bus: NotifyBus;
  readonly #log: Logger;
  readonly #url: string;
  readonly #node = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  #listener: pg.Client | undefined;
  #sender: pg.Client | undefined;
  #pending: Change[] = [];
  #flushScheduled = false;
  #closed = false;

  constructor(bus: NotifyBus, url: string, log: Logger) {
    this.#bus = bus;
    this.#url = url;
    this.#log = log;
  }

  async start(): Promise<void> {
    this.#sender = await this.#connect();
    await this.#listen();
    this.#bus.onLocalPublish((change) => this.#queue(change));
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#listener?.end().catch(() => undefined);
    await this.#sender?.end().catch(() => undefined);
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.#url });
    client.on('error', (err) => this.#log.warn({ err }, 'notify connection error'));
    await client.connect();
    return client;
  }

  async #listen(): Promise<void> {
    const client = await this.#connect();
    client.on('notification', (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      let wire: WireChange;
      try {
        wire = JSON.parse(msg.payload) as WireChange;
      } catch {
        return;
      }
      if (wire.n === this.#node) return;
      const typing = Array.isArray(wire.t) ? wire.t.map(([room, user, until]) => ({ room, user, until })) : undefined;
      const presence = Array.isArray(wire.s) ? wire.s.map(([user, state, statusMsg, active]) => ({ user, presence: state, statusMsg, active })) : undefined;
      if (wire.all) this.#bus.publishRemote({ ...(wire.p !== undefined ? { pos: wire.p } : {}), everyone: true });
      else
        this.#bus.publishRemote({
          ...(wire.p !== undefined ? { pos: wire.p } : {}),
          rooms: wire.r ?? [],
          users: wire.u ?? [],
          ...(typing ? { typing } : {}),
          ...(presence ? { presence } : {}),
        });
    });
    client.on('end', () => {
      if (this.#closed) return;
      // A lost LISTEN connection would silently stop cross-node wake-ups: reconnect, and wake
      // every waiter so that nothing that happened meanwhile stays unseen.
      this.#log.warn('notify listener lost; reconnecting');
      setTimeout(() => {
        this.#listen()
          .then(() => this.#bus.publishRemote({ everyone: true }))
          .catch((err: unknown) => this.#log.error({ err }, 'notify listener reconnect failed'));
      }, 1000).unref();
    });
    await client.query(`LISTEN ${CHANNEL}`);
    this.#listener = client;
  }

  #queue(change: Change): void {
    this.#pending.push(change);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0 || !this.#sender || this.#closed) return;
    const rooms = new Set<string>();
    const users = new Set<string>();
    let pos: number | undefined;
    const typing: Array<[string, string, number]> = [];
    // Only the latest state of each user matters to the other processes.
    const presence = new Map<string, [string, PresenceChange['presence'], string | null, number]>();
    for (const c of batch) {
      for (const p of c.presence ?? []) presence.set(p.user, [p.user, p.presence, p.statusMsg, p.active]);
      if (c.pos !== undefined) pos = Math.max(pos ?? 0, c.pos);
      for (const t of c.typing ?? []) typing.push([t.room, t.user, t.until]);
      for (const r of c.rooms ?? []) rooms.add(r);
      for (const u of c.users ?? []) users.add(u);
    }
    const wire: WireChange = { n: this.#node, r: [...rooms], u: [...users], ...(pos !== undefined ? { p: pos } : {}), ...(typing.length > 0 ? { t: typing } : {}), ...(presence.size > 0 ? { s: [...presence.values()] } : {}) };
    // Too big to describe: everyone wakes, and typing (worth a few seconds) and presence (set
    // again by the user's next activity) are dropped.
    let payload = JSON.stringify(wire);
    if (payload.length > MAX_PAYLOAD) payload = JSON.stringify({ n: this.#node, all: true, ...(pos !== undefined ? { p: pos } : {}) });
    try {
      await this.#sender.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]);
    } catch (err) {
      this.#log.warn({ err }, 'notify failed');
    }
  }
}
