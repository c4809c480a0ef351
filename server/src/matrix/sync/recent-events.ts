import type { Knex } from 'knex';
import * as eventsRepo from '../../storage/events.ts';
import type { StoredEvent } from '../../storage/events.ts';

/** Events held per room: a woken sync usually wants the last one to a few (timeline limit + 1 at most). */
const PER_ROOM = 64;
/** Events held in all (about 1 to 2 kB each): the least recently used rooms go first. */
const MAX_EVENTS = 16_384;
/** Redacted event ids remembered (see #redacted). */
const MAX_REDACTED = 4096;

/**
 * The latest events of each room, in memory, so that the syncs woken by a send (the other
 * members of the room, who all ask for the same few events) do not each read them again.
 *
 * Completeness is never assumed: a sync's one query returns the stream positions of the
 * events in its window (storage/sync-queries.ts), and the events are taken from here only
 * by position. A stream position names one event for good, so an event held at that
 * position is the one the database holds, except for a redaction that emptied it since:
 * a redaction taken in (by this process's writer, or read from the database) drops its
 * target. Positions not held are read from the database in one query, shared by the syncs
 * that want them at the same time (once per node, not per syncing user), and kept. Other
 * processes on the same PostgreSQL need nothing more: their events are read here the first
 * time a sync of this node asks for them.
 */
export class RecentEvents {
  readonly #db: Knex;
  /** Per room, events by position (Map order: least recently used room first). */
  readonly #rooms = new Map<string, Map<number, StoredEvent>>();
  #size = 0;
  /**
   * Events redacted lately: a read of the database that started before the redaction and ends
   * after it must not bring the event back as it was.
   */
  readonly #redacted = new Set<string>();
  /** Positions being read from the database: concurrent syncs share the read. */
  readonly #reading = new Map<number, Promise<StoredEvent | undefined>>();
  /** Counters for the bench and tests: positions served from memory and read from the database. */
  readonly stats = { held: 0, read: 0 };

  readonly #perRoom: number;
  readonly #maxEvents: number;

  constructor(db: Knex, limits: { perRoom?: number; maxEvents?: number } = {}) {
    this.#db = db;
    this.#perRoom = limits.perRoom ?? PER_ROOM;
    this.#maxEvents = limits.maxEvents ?? MAX_EVENTS;
  }

  /** Events just committed (by this process), or read from the database. */
  add(events: Iterable<StoredEvent>): void {
    for (const e of events) {
      if (e.pdu.type === 'm.room.redaction') this.#dropTarget(e);
      if (e.redactedBy === null && this.#redacted.has(e.pdu.event_id)) continue;
      const room = this.#room(e.pdu.room_id);
      if (!room.has(e.streamPos)) this.#size++;
      room.set(e.streamPos, e);
      if (room.size > this.#perRoom) this.#trim(room);
    }
    this.#evict();
  }

  /** An event emptied by a redaction: no longer held as it was. */
  forget(roomId: string, eventId: string): void {
    const room = this.#rooms.get(roomId);
    if (!room) return;
    for (const [pos, e] of room) {
      if (e.pdu.event_id === eventId) {
        room.delete(pos);
        this.#size--;
      }
    }
  }

  /**
   * The events at the given positions of each room, in the order given; positions not held are
   * read from the database (one query for all of them). A position whose event is gone (purged
   * meanwhile) is left out, as a read of the database would.
   */
  async resolve(wanted: Map<string, number[]>): Promise<Map<string, StoredEvent[]>> {
    // What is held is taken now: reads awaited below may evict it meanwhile.
    const got = new Map<number, StoredEvent | undefined>();
    const missing: number[] = [];
    const pending = new Map<number, Promise<StoredEvent | undefined>>();
    for (const [roomId, positions] of wanted) {
      const room = this.#rooms.get(roomId);
      for (const pos of positions) {
        const held = room?.get(pos);
        if (held) {
          got.set(pos, held);
          this.stats.held++;
          continue;
        }
        const reading = this.#reading.get(pos);
        if (reading) pending.set(pos, reading);
        else missing.push(pos);
      }
    }
    if (missing.length > 0) {
      const read = eventsRepo.findEventsAtPositions(this.#db, missing).then((events) => {
        this.add(events);
        return new Map(events.map((e) => [e.streamPos, e]));
      });
      const done = () => {
        for (const pos of missing) this.#reading.delete(pos);
      };
      read.then(done, done);
      for (const pos of missing) {
        const one = read.then((m) => m.get(pos));
        one.catch(() => {});
        this.#reading.set(pos, one);
        pending.set(pos, one);
      }
      this.stats.read += missing.length;
    }
    for (const [pos, p] of pending) got.set(pos, await p);
    const out = new Map<string, StoredEvent[]>();
    for (const [roomId, positions] of wanted) {
      const events: StoredEvent[] = [];
      for (const pos of positions) {
        const e = got.get(pos);
        if (e && e.pdu.room_id === roomId) events.push(e);
      }
      out.set(roomId, events);
    }
    return out;
  }

  #room(roomId: string): Map<number, StoredEvent> {
    let room = this.#rooms.get(roomId);
    if (room) {
      this.#rooms.delete(roomId);
    } else {
      room = new Map();
    }
    this.#rooms.set(roomId, room);
    return room;
  }

  #dropTarget(redaction: StoredEvent): void {
    const p = redaction.pdu;
    const target = p.redacts ?? (typeof p.content.redacts === 'string' ? p.content.redacts : undefined);
    if (!target) return;
    this.forget(p.room_id, target);
    this.#redacted.add(target);
    if (this.#redacted.size > MAX_REDACTED) this.#redacted.delete(this.#redacted.values().next().value!);
  }

  /** Keeps the room's latest events (perRoom of them). */
  #trim(room: Map<number, StoredEvent>): void {
    const positions = [...room.keys()].sort((a, b) => a - b);
    for (const pos of positions.slice(0, positions.length - this.#perRoom)) {
      room.delete(pos);
      this.#size--;
    }
  }

  #evict(): void {
    for (const [roomId, room] of this.#rooms) {
      if (this.#size <= this.#maxEvents) return;
      this.#rooms.delete(roomId);
      this.#size -= room.size;
    }
  }
}
