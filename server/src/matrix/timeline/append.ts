import type { Knex } from 'knex';
import { MatrixError, badJson, forbidden } from '../../errors.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import * as eventsRepo from '../../storage/events.ts';
import { authEventKeys, checkEventAuth } from '../events/auth-rules.ts';
import { CanonicalJsonError, canonicalJson } from '../events/canonical-json.ts';
import { computeEventId } from '../events/hashes.ts';
import { stateMapKey, type JsonObject, type Pdu, type RoomVersion, type StateMap } from '../events/pdu.ts';
import { redactEvent } from '../events/redaction.ts';
import { signEvent, type SigningKey } from '../events/signing.ts';

/** What a client (or a service acting for one) asks to add to a room. */
export interface NewEvent {
  type: string;
  sender: string;
  content: JsonObject;
  state_key?: string;
  /** For m.room.redaction: the target (placed per room version). */
  redacts?: string;
}

export interface AppendOptions {
  /**
   * Idempotency of PUT /send and /redact: (device, txn id, path). `path` names the request
   * without its txn id (endpoint, room, type or target): the spec counts a retransmission only
   * for the same txn id on the same path.
   */
  txn?: { deviceId: string; txnId: string; path: string };
  /** Runs first inside the transaction (room creation inserts the room row here). */
  before?: (trx: Knex.Transaction) => Promise<void>;
  /** Extra checks against the state before each event (client API rules beyond auth rules). */
  check?: (event: Pdu, stateBefore: StateMap) => void;
}

export interface EventWriterDeps {
  db: Knex;
  bus: NotifyBus;
  serverName: string;
  signingKey: SigningKey;
}

/** The deduplication key of a transaction: its path (length-prefixed: unambiguous), then its id. */
function txnKey(txn: { txnId: string; path: string }): string {
  return `${txn.path.length}:${txn.path}:${txn.txnId}`;
}

/** Write transactions (batches) that may run at once in this process: one commits, one prepares. */
const MAX_BATCHES_IN_FLIGHT = 2;
/** Bounds of one batch (a request larger than this, e.g. a room creation, goes alone). */
const MAX_BATCH_REQUESTS = 128;
const MAX_BATCH_EVENTS = 256;

/** Largest event the spec allows, as sent over federation (canonical JSON, with signatures). */
export const MAX_EVENT_BYTES = 65_536;

interface Request {
  roomId: string;
  events: NewEvent[];
  options: AppendOptions;
  resolve: (events: Pdu[]) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; events: Pdu[]; replayed: boolean } | { ok: false; error: unknown };

/** Where a room stands while a batch is prepared: the parent of its next event, and its state. */
interface RoomCursor {
  version: RoomVersion;
  prev: string[];
  depth: number;
  /** Current state as of the start of the batch, for the keys the batch's events look at. */
  stored: StateMap;
  /** State written earlier in this batch: overrides `stored`. */
  overlay: StateMap;
}

/** Another process recorded one of the batch's txn ids meanwhile: the batch is redone request by request. */
class TxnRace extends Error {}

/**
 * The one place where room events are written: group commit. Appends wait in a queue; each
 * batch takes the waiting appends of rooms not already being written (several per room, in
 * order) and writes them in ONE transaction: lock the rooms, read their latest events and the
 * state the auth rules need in a few queries, check every event against the state as of the
 * batch plus the events before it in the batch, sign, then store everything and take the
 * stream positions in one statement (one stream_head update and one commit for the batch).
 * An append is answered, and waiting syncs woken, only after the commit. An append that fails
 * its checks fails alone; a database error fails the batch, which is then redone one append
 * per transaction so that the others still get their answers.
 */
export class EventWriter {
  readonly #deps: EventWriterDeps;
  #pending: Request[] = [];
  /** Rooms in a batch being written: their next appends wait for the next batch (order). */
  readonly #busyRooms = new Set<string>();
  #inFlight = 0;
  #scheduled = false;

  readonly #listeners: Array<(events: Pdu[]) => void> = [];
  readonly #committedListeners: Array<(events: eventsRepo.StoredEvent[]) => void> = [];

  constructor(deps: EventWriterDeps) {
    this.#deps = deps;
  }

  /** Called after each commit with the events written (alerts watch for reactions and replies). */
  onAppended(listener: (events: Pdu[]) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Called after each commit, before waiting syncs are woken, with the events written and their
   * stream positions (sync keeps the latest in memory: matrix/sync/recent-events.ts).
   */
  onCommitted(listener: (events: eventsRepo.StoredEvent[]) => void): void {
    this.#committedListeners.push(listener);
  }

  append(roomId: string, events: NewEvent[], options: AppendOptions = {}): Promise<Pdu[]> {
    return new Promise<Pdu[]>((resolve, reject) => {
      this.#pending.push({ roomId, events, options, resolve, reject });
      // Appends arriving in the same turn of the event loop go into the same batch.
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#pump();
        });
      }
    });
  }

  #pump(): void {
    while (this.#inFlight < MAX_BATCHES_IN_FLIGHT && this.#pending.length > 0) {
      const batch = this.#takeBatch();
      if (batch.length === 0) return;
      this.#inFlight++;
      for (const r of batch) this.#busyRooms.add(r.roomId);
      void this.#runBatch(batch).finally(() => {
        this.#inFlight--;
        for (const r of batch) this.#busyRooms.delete(r.roomId);
        this.#pump();
      });
    }
  }

  /** The next batch, in queue order; an append skipped blocks the later ones of its room. */
  #takeBatch(): Request[] {
    const batch: Request[] = [];
    const rest: Request[] = [];
    const blocked = new Set(this.#busyRooms);
    let events = 0;
    for (const req of this.#pending) {
      // A `before` hook (room creation) runs alone: its database errors fail only its append.
      const solo = batch.length > 0 && (req.options.before !== undefined || batch[0]!.options.before !== undefined);
      if (blocked.has(req.roomId) || solo || batch.length >= MAX_BATCH_REQUESTS || (batch.length > 0 && events + req.events.length > MAX_BATCH_EVENTS)) {
        rest.push(req);
        blocked.add(req.roomId);
      } else {
        batch.push(req);
        events += req.events.length;
      }
    }
    this.#pending = rest;
    return batch;
  }

  async #runBatch(batch: Request[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.#commitBatch(batch);
    } catch (err) {
      if (batch.length === 1 || !redoable(err)) {
        outcomes = [{ ok: false, error: err }];
      } else {
        outcomes = [];
        for (const req of batch) {
          try {
            outcomes.push((await this.#commitBatch([req]))[0]!);
          } catch (e) {
            outcomes.push({ ok: false, error: e });
          }
        }
      }
    }
    batch.forEach((req, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) req.resolve(outcome.events);
      else req.reject(outcome.error);
    });
  }

  /** Writes a batch in one transaction, then wakes syncs and listeners. One outcome per request. */
  async #commitBatch(batch: Request[]): Promise<Outcome[]> {
    const { db, bus } = this.#deps;
    let lastPos = 0;
    let stored: eventsRepo.StoredEvent[] = [];
    const outcomes = await db.transaction((trx) =>
      this.#writeBatch(trx, batch).then((r) => {
        lastPos = r.lastPos;
        stored = r.stored;
        return r.outcomes;
      }),
    );
    if (stored.length > 0) for (const listener of this.#committedListeners) listener(stored);
    const rooms = new Set<string>();
    const users = new Set<string>();
    outcomes.forEach((o, i) => {
      if (!o.ok || o.replayed) return;
      rooms.add(batch[i]!.roomId);
      for (const pdu of o.events) if (pdu.type === 'm.room.member' && pdu.state_key !== undefined) users.add(pdu.state_key);
    });
    if (rooms.size > 0) bus.publish({ pos: lastPos, rooms, users });
    for (const o of outcomes) {
      if (!o.ok || o.replayed || o.events.length === 0) continue;
      for (const listener of this.#listeners) listener(o.events);
    }
    return outcomes;
  }

  async #writeBatch(trx: Knex.Transaction, batch: Request[]): Promise<{ outcomes: Outcome[]; lastPos: number; stored: eventsRepo.StoredEvent[] }> {
    const roomIds = [...new Set(batch.map((r) => r.roomId))];
    // One writer per room at a time, also across processes sharing a PostgreSQL; the locks are
    // taken in one order (by hash) so that two batches never wait for each other.
    await trx.raw(
      `SELECT pg_advisory_xact_lock(h) FROM (
         SELECT DISTINCT hashtext(value) AS h FROM jsonb_array_elements_text(?::jsonb) ORDER BY h
       ) AS locks`,
      [JSON.stringify(roomIds)],
    );

    const outcomes: Array<Outcome | undefined> = batch.map(() => undefined);
    const keyOf = (req: Request) => {
      const txn = req.options.txn!;
      return { user_id: req.events[0]!.sender, device_id: txn.deviceId, txn_id: txnKey(txn) };
    };
    const withTxn = batch.flatMap((req, i) => (req.options.txn && req.events.length > 0 ? [i] : []));

    // Room creation inserts the room row (it runs alone in its batch).
    for (const req of batch) if (req.options.before) await req.options.before(trx);

    // One read for the whole batch: the rooms' latest events, the txn ids already recorded, and
    // the state every event needs for its auth checks.
    const wanted = new Map<string, [string, string, string]>();
    for (const req of batch) {
      for (const ev of req.events) {
        for (const [type, key] of stateKeysFor(ev)) wanted.set(JSON.stringify([req.roomId, type, key]), [req.roomId, type, key]);
      }
    }
    const context = await eventsRepo.writeContext(trx, roomIds, withTxn.map((i) => keyOf(batch[i]!)), [...wanted.values()]);

    // Idempotency: a txn id already recorded answers with its event; the same txn id twice in
    // this batch answers both with one event.
    const sameAs = new Map<number, number>();
    const firstOfKey = new Map<string, number>();
    for (const i of withTxn) {
      const key = eventsRepo.txnKeyString(keyOf(batch[i]!));
      const stored = context.txns.get(key);
      if (stored) {
        outcomes[i] = { ok: true, events: [stored], replayed: true };
        continue;
      }
      const first = firstOfKey.get(key);
      if (first === undefined) firstOfKey.set(key, i);
      else sameAs.set(i, first);
    }
    const toWrite = batch.flatMap((req, i) => (outcomes[i] || sameAs.has(i) ? [] : [i]));

    const cursors = new Map<string, RoomCursor>();
    for (const [roomId, head] of context.heads) {
      cursors.set(roomId, {
        version: head.room_version as RoomVersion,
        prev: head.latest ? [head.latest.event_id] : [],
        depth: head.latest ? head.latest.depth + 1 : 1,
        stored: new Map(),
        overlay: new Map(),
      });
    }
    for (const pdu of context.state) cursors.get(pdu.room_id)?.stored.set(stateMapKey(pdu.type, pdu.state_key ?? ''), pdu);

    // Check and sign, in queue order; a request that fails leaves its room's cursor as it was.
    for (const i of toWrite) {
      const req = batch[i]!;
      const cursor = cursors.get(req.roomId);
      try {
        // Sending into a room that does not exist is sending into a room one is not in (spec: 403).
        if (!cursor) throw forbidden('You are not in this room.');
        outcomes[i] = { ok: true, events: this.#prepare(req, cursor), replayed: false };
      } catch (error) {
        outcomes[i] = { ok: false, error };
      }
    }

    const written = toWrite.filter((i) => outcomes[i]!.ok);
    const txnRows = written
      .filter((i) => batch[i]!.options.txn && batch[i]!.events.length > 0)
      .map((i) => ({ ...keyOf(batch[i]!), event_id: (outcomes[i] as { events: Pdu[] }).events[0]!.event_id, created_ts: Date.now() }));
    const rows: Array<{ pdu: Pdu; txn?: { deviceId: string; txnId: string } | undefined }> = [];
    for (const i of written) {
      const req = batch[i]!;
      const events = (outcomes[i] as { events: Pdu[] }).events;
      const cursor = cursors.get(req.roomId)!;
      for (const pdu of events) {
        if (pdu.type === 'm.room.redaction') await this.#applyRedaction(trx, pdu, cursor.version);
        const txn = req.options.txn && pdu.sender === req.events[0]!.sender ? { deviceId: req.options.txn.deviceId, txnId: req.options.txn.txnId } : undefined;
        rows.push({ pdu, txn });
      }
    }
    const { positions, txnsRecorded } = await eventsRepo.insertEventsAtNextPositions(trx, rows, txnRows);
    if (txnsRecorded < txnRows.length) {
      // Another process recorded one of these txn ids meanwhile: roll back; alone, the request
      // is refused as before, in a batch the batch is redone request by request.
      if (batch.length === 1) throw new MatrixError(409, 'M_UNKNOWN', 'Concurrent request with the same transaction id.');
      throw new TxnRace();
    }
    for (const [i, first] of sameAs) outcomes[i] = outcomes[first]!.ok ? { ...(outcomes[first] as Outcome & { ok: true }), replayed: true } : outcomes[first];
    const stored = rows.map((r, i) => ({ pdu: r.pdu, streamPos: positions[i]!, redactedBy: null, txn: r.txn }));
    return { outcomes: outcomes as Outcome[], lastPos: positions.at(-1) ?? 0, stored };
  }

  /** Builds, checks and signs the events of one request on top of `cursor`, which it advances on success. */
  #prepare(req: Request, cursor: RoomCursor): Pdu[] {
    const { version } = cursor;
    let prev = cursor.prev;
    let depth = cursor.depth;
    const overlay: StateMap = new Map(cursor.overlay);
    const out: Pdu[] = [];
    for (const ev of req.events) {
      const draft: Pdu = {
        event_id: '',
        room_id: req.roomId,
        sender: ev.sender,
        type: ev.type,
        content: ev.content,
        origin_server_ts: Date.now(),
        depth,
        prev_events: prev,
        auth_events: [],
        hashes: { sha256: '' },
        signatures: {},
      };
      if (ev.state_key !== undefined) draft.state_key = ev.state_key;
      if (ev.type === 'm.room.redaction' && ev.redacts) {
        if (version === '11') draft.content = { ...ev.content, redacts: ev.redacts };
        else draft.redacts = ev.redacts;
      }
      const stateBefore: StateMap = new Map();
      for (const [type, key] of stateKeysFor(ev)) {
        const k = stateMapKey(type, key);
        const e = overlay.get(k) ?? cursor.stored.get(k);
        if (e) stateBefore.set(k, e);
      }
      draft.auth_events = authEventKeys(draft)
        .map(([t, k]) => stateBefore.get(stateMapKey(t, k))?.event_id)
        .filter((id): id is string => typeof id === 'string');
      const verdict = checkEventAuth(draft, stateBefore, version);
      if (!verdict.allowed) throw forbidden(verdict.reason);
      req.options.check?.(draft, stateBefore);
      const pdu = this.#finish(draft, version);
      if (ev.state_key !== undefined) {
        const previous = ev.type === 'm.room.create' ? undefined : stateBefore.get(stateMapKey(ev.type, ev.state_key));
        if (previous) {
          pdu.unsigned = { replaces_state: previous.event_id, prev_content: previous.content, prev_sender: previous.sender };
        }
        overlay.set(stateMapKey(ev.type, ev.state_key), pdu);
      }
      out.push(pdu);
      prev = [pdu.event_id];
      depth += 1;
    }
    cursor.prev = prev;
    cursor.depth = depth;
    cursor.overlay = overlay;
    return out;
  }

  #finish(draft: Pdu, version: RoomVersion): Pdu {
    const { serverName, signingKey } = this.#deps;
    const { event_id: _unused, ...withoutId } = draft;
    let signed: ReturnType<typeof signEvent>;
    try {
      signed = signEvent(withoutId, serverName, signingKey, version);
    } catch (err) {
      // Floats, integers beyond 2^53, lone surrogates: not canonical JSON, so not an event.
      if (err instanceof CanonicalJsonError) throw badJson(`Event content is not canonical JSON: ${err.message}`);
      throw err;
    }
    const size = Buffer.byteLength(canonicalJson(signed), 'utf8');
    if (size > MAX_EVENT_BYTES) throw new MatrixError(413, 'M_TOO_LARGE', `Event is ${size} bytes; the limit is ${MAX_EVENT_BYTES}.`);
    return { ...signed, event_id: computeEventId(signed, version) } as Pdu;
  }

  async #applyRedaction(trx: Knex.Transaction, redaction: Pdu, version: RoomVersion): Promise<void> {
    const targetId = redaction.redacts ?? (typeof redaction.content.redacts === 'string' ? redaction.content.redacts : undefined);
    if (!targetId) return;
    const target = await eventsRepo.findEvent(trx, targetId);
    if (!target || target.pdu.room_id !== redaction.room_id || target.redactedBy) return;
    const redacted = redactEvent(target.pdu, version);
    await eventsRepo.replaceRedacted(trx, targetId, redacted, redaction.event_id);
  }
}

/** The state entries the auth rules look at for an event, and the entry it replaces. */
function stateKeysFor(ev: NewEvent): Array<[string, string]> {
  const keys = authEventKeys(ev);
  // The power levels decide most things; join rules matter for joins and invites.
  keys.push(['m.room.power_levels', ''], ['m.room.join_rules', ''], ['m.room.create', '']);
  // The state event this one replaces: its content becomes unsigned.prev_content.
  if (ev.state_key !== undefined) keys.push([ev.type, ev.state_key]);
  return keys;
}

/**
 * Whether a failed batch may be redone append by append: the transaction surely did not commit
 * (a txn id race, or the database refused a statement). A lost connection may have committed.
 */
function redoable(err: unknown): boolean {
  if (err instanceof TxnRace) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57');
}
