import type { Knex } from 'knex';
import { MatrixError, badJson, forbidden } from '../../errors.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import * as eventsRepo from '../../storage/events.ts';
import * as txnRepo from '../../storage/txn-ids.ts';
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

/** Write transactions that may run at once in this process (the pool has 10 connections). */
const MAX_CONCURRENT_WRITES = 4;

/** Largest event the spec allows, as sent over federation (canonical JSON, with signatures). */
export const MAX_EVENT_BYTES = 65_536;

/**
 * The one place where room events are written. In one transaction: lock the room, take its
 * latest event as the parent, check the authorization rules against the current state, sign,
 * store, update the current state and memberships, and take stream positions last. Waiting
 * syncs are woken only after the commit.
 */
export class EventWriter {
  readonly #deps: EventWriterDeps;
  // Appends to one room queue here first: a transaction waiting for the room lock would hold a
  // pooled connection that reads (syncs) need. The advisory lock still orders processes.
  readonly #roomTails = new Map<string, Promise<void>>();
  // Write transactions at once: they queue on stream_head anyway, and each one holds a pooled
  // connection; more of them would only starve the reads (syncs) of connections.
  #activeWrites = 0;
  readonly #writeWaiters: Array<() => void> = [];

  readonly #listeners: Array<(events: Pdu[]) => void> = [];

  constructor(deps: EventWriterDeps) {
    this.#deps = deps;
  }

  /** Called after each commit with the events written (alerts watch for reactions and replies). */
  onAppended(listener: (events: Pdu[]) => void): void {
    this.#listeners.push(listener);
  }

  async append(roomId: string, events: NewEvent[], options: AppendOptions = {}): Promise<Pdu[]> {
    const { db, bus } = this.#deps;
    const written: Pdu[] = [];
    const users = new Set<string>();
    let lastPos = 0;
    let replayed: Pdu[] | undefined;
    await this.#oneAtATime(roomId, () => this.#withWriteSlot(() => db.transaction(async (trx) => {
      // One writer per room at a time, also across processes sharing a PostgreSQL.
      await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [roomId]);
      if (options.txn) {
        const existing = await txnRepo.findTxn(trx, events[0]!.sender, options.txn.deviceId, txnKey(options.txn));
        if (existing) {
          const stored = await eventsRepo.findEvent(trx, existing);
          if (stored) {
            replayed = [stored.pdu];
            return;
          }
        }
      }
      if (options.before) await options.before(trx);
      const head = await eventsRepo.roomHead(trx, roomId);
      // Sending into a room that does not exist is sending into a room one is not in (spec: 403).
      if (!head) throw forbidden('You are not in this room.');
      const version = head.room_version as RoomVersion;
      const latest = head.latest;
      let prev = latest ? [latest.event_id] : [];
      let depth = latest ? latest.depth + 1 : 1;
      // State written earlier in this same batch (room creation) overrides the stored state.
      const overlay: StateMap = new Map();

      const prepared: Array<{ pdu: Pdu; stateBefore: StateMap }> = [];
      for (const ev of events) {
        const draft: Pdu = {
          event_id: '',
          room_id: roomId,
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
        const stateBefore = await this.#authState(trx, roomId, draft, overlay);
        draft.auth_events = authEventKeys(draft)
          .map(([t, k]) => stateBefore.get(stateMapKey(t, k))?.event_id)
          .filter((id): id is string => typeof id === 'string');
        const verdict = checkEventAuth(draft, stateBefore, version);
        if (!verdict.allowed) throw forbidden(verdict.reason);
        options.check?.(draft, stateBefore);
        const pdu = this.#finish(draft, version);
        if (ev.state_key !== undefined) {
          const previous = ev.type === 'm.room.create' ? undefined : stateBefore.get(stateMapKey(ev.type, ev.state_key));
          if (previous) {
            pdu.unsigned = { replaces_state: previous.event_id, prev_content: previous.content, prev_sender: previous.sender };
          }
          overlay.set(stateMapKey(ev.type, ev.state_key), pdu);
        }
        prepared.push({ pdu, stateBefore });
        prev = [pdu.event_id];
        depth += 1;
      }

      // Everything that needs no stream position first: the positions are taken last, in the
      // same statement as the inserts (stream_head stays locked until the commit).
      if (options.txn) {
        const inserted = await txnRepo.insertTxn(trx, {
          user_id: events[0]!.sender,
          device_id: options.txn.deviceId,
          txn_id: txnKey(options.txn),
          event_id: prepared[0]!.pdu.event_id,
          created_ts: Date.now(),
        });
        if (!inserted) throw new MatrixError(409, 'M_UNKNOWN', 'Concurrent request with the same transaction id.');
      }
      for (const { pdu } of prepared) {
        if (pdu.type === 'm.room.redaction') await this.#applyRedaction(trx, pdu, version);
        if (pdu.type === 'm.room.member' && pdu.state_key !== undefined) users.add(pdu.state_key);
        written.push(pdu);
      }
      const positions = await eventsRepo.insertEventsAtNextPositions(
        trx,
        prepared.map(({ pdu }) => ({
          pdu,
          txn: options.txn && pdu.sender === events[0]!.sender ? { deviceId: options.txn.deviceId, txnId: options.txn.txnId } : undefined,
        })),
      );
      lastPos = positions.at(-1) ?? 0;
    })));
    if (replayed) return replayed;
    bus.publish({ pos: lastPos, rooms: [roomId], users });
    for (const listener of this.#listeners) listener(written);
    return written;
  }

  /** Runs `fn` after every earlier call for the same room has finished. */
  async #oneAtATime<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#roomTails.get(roomId) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#roomTails.set(roomId, tail);
    try {
      return await run;
    } finally {
      if (this.#roomTails.get(roomId) === tail) this.#roomTails.delete(roomId);
    }
  }

  /** Runs `fn` when fewer than MAX_CONCURRENT_WRITES write transactions are running. */
  async #withWriteSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#activeWrites < MAX_CONCURRENT_WRITES) this.#activeWrites++;
    else await new Promise<void>((resolve) => this.#writeWaiters.push(resolve));
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter, if any.
      const next = this.#writeWaiters.shift();
      if (next) next();
      else this.#activeWrites--;
    }
  }

  /** The state entries the auth rules look at for `draft`, as of now. */
  async #authState(trx: Knex.Transaction, roomId: string, draft: Pdu, overlay: StateMap): Promise<StateMap> {
    const keys = authEventKeys(draft);
    // The power levels decide most things; join rules matter for joins and invites.
    keys.push(['m.room.power_levels', ''], ['m.room.join_rules', ''], ['m.room.create', '']);
    // The state event this one replaces: its content becomes unsigned.prev_content.
    if (draft.state_key !== undefined) keys.push([draft.type, draft.state_key]);
    const state: StateMap = new Map();
    const missing: Array<[string, string]> = [];
    for (const [type, key] of keys) {
      const k = stateMapKey(type, key);
      if (state.has(k)) continue;
      const local = overlay.get(k);
      if (local) state.set(k, local);
      else missing.push([type, key]);
    }
    if (missing.length > 0) {
      const stored = await eventsRepo.currentStateEvents(trx, roomId, missing);
      for (const e of stored) {
        const k = stateMapKey(e.pdu.type, e.pdu.state_key ?? '');
        if (!state.has(k)) state.set(k, e.pdu);
      }
    }
    return state;
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
