import type { Knex } from 'knex';
import { MatrixError, forbidden, notFound } from '../../errors.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import * as eventsRepo from '../../storage/events.ts';
import * as membershipsRepo from '../../storage/memberships.ts';
import * as roomsRepo from '../../storage/rooms.ts';
import * as stateRepo from '../../storage/room-state.ts';
import { nextStreamPos } from '../../storage/stream.ts';
import * as txnRepo from '../../storage/txn-ids.ts';
import { authEventKeys, checkEventAuth } from '../events/auth-rules.ts';
import { canonicalJson } from '../events/canonical-json.ts';
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
  /** Idempotency of PUT /send and /state: (device, txn id). */
  txn?: { deviceId: string; txnId: string };
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

  constructor(deps: EventWriterDeps) {
    this.#deps = deps;
  }

  async append(roomId: string, events: NewEvent[], options: AppendOptions = {}): Promise<Pdu[]> {
    const { db, bus } = this.#deps;
    const written: Pdu[] = [];
    const users = new Set<string>();
    let lastPos = 0;
    let replayed: Pdu[] | undefined;
    await db.transaction(async (trx) => {
      // One writer per room at a time, also across processes sharing a PostgreSQL.
      await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [roomId]);
      if (options.txn) {
        const existing = await txnRepo.findTxn(trx, events[0]!.sender, options.txn.deviceId, options.txn.txnId);
        if (existing) {
          const stored = await eventsRepo.findEvent(trx, existing);
          if (stored) {
            replayed = [stored.pdu];
            return;
          }
        }
      }
      if (options.before) await options.before(trx);
      const room = await roomsRepo.findRoom(trx, roomId);
      if (!room) throw notFound('Unknown room.');
      const version = room.room_version as RoomVersion;
      const latest = await eventsRepo.latestRoomEvent(trx, roomId);
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

      for (const { pdu } of prepared) {
        const pos = await nextStreamPos(trx);
        lastPos = pos;
        await eventsRepo.insertEvent(trx, pdu, pos, options.txn && pdu.sender === events[0]!.sender ? options.txn : undefined);
        if (pdu.state_key !== undefined) {
          await stateRepo.upsertCurrentState(trx, { room_id: roomId, type: pdu.type, state_key: pdu.state_key, event_id: pdu.event_id, stream_pos: pos });
          if (pdu.type === 'm.room.member') {
            const membership = String(pdu.content.membership) as membershipsRepo.Membership;
            await membershipsRepo.upsertMembership(trx, { room_id: roomId, user_id: pdu.state_key, membership, event_id: pdu.event_id, stream_pos: pos });
            users.add(pdu.state_key);
          }
        }
        if (pdu.type === 'm.room.redaction') await this.#applyRedaction(trx, pdu, version);
        written.push(pdu);
      }
      if (options.txn) {
        const inserted = await txnRepo.insertTxn(trx, {
          user_id: events[0]!.sender,
          device_id: options.txn.deviceId,
          txn_id: options.txn.txnId,
          event_id: written[0]!.event_id,
          created_ts: Date.now(),
        });
        if (!inserted) throw new MatrixError(409, 'M_UNKNOWN', 'Concurrent request with the same transaction id.');
      }
    });
    if (replayed) return replayed;
    bus.publish({ pos: lastPos, rooms: [roomId], users });
    return written;
  }

  /** The state entries the auth rules look at for `draft`, as of now. */
  async #authState(trx: Knex.Transaction, roomId: string, draft: Pdu, overlay: StateMap): Promise<StateMap> {
    const keys = authEventKeys(draft);
    // The power levels decide most things; join rules matter for joins and invites.
    keys.push(['m.room.power_levels', ''], ['m.room.join_rules', ''], ['m.room.create', '']);
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
      const rows = await trx('current_state')
        .where('room_id', roomId)
        .where((q) => {
          for (const [type, key] of missing) q.orWhere((w) => w.where({ type, state_key: key }));
        })
        .select('event_id');
      const stored = await eventsRepo.findEventsByIds(trx, rows.map((r: { event_id: string }) => r.event_id));
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
    const signed = signEvent(withoutId, serverName, signingKey, version);
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
