import { WakeLoop } from '../../jobs/wake-loop.ts';
import type { Knex } from 'knex';
import { request } from 'undici';
import type { Logger } from '../../logger.ts';
import * as asRepo from '../../storage/appservice.ts';
import type { StoredEvent } from '../../storage/events.ts';
import * as eventsRepo from '../../storage/events.ts';
import * as membershipsRepo from '../../storage/memberships.ts';
import { toClientEvents } from '../timeline/client-format.ts';
import type { AppserviceService } from './appservice-service.ts';
import { inNamespace, type Registration } from './registration.ts';

/** Events scanned per step, and sent per transaction at most. */
const SCAN = 500;
const MAX_EVENTS = 100;
const LEASE_MS = 60_000;
const IDLE_POLL_MS = 1000;
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_BACKOFF_MS = 5 * 60_000;
/** Ephemeral events waiting per service: the oldest go first when a service falls behind. */
const MAX_QUEUED_EDUS = 1000;
/** Ephemeral events per transaction at most (as Synapse sends). */
const MAX_EDUS = 100;

type Edu = Record<string, unknown>;

export function backoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, attempts - 1));
}

/**
 * Pushes the events a service is interested in, in stream order, as transactions
 * (PUT {url}/_matrix/app/v1/transactions/{txnId}, Bearer hs_token). Progress lives in
 * appservice_state: a transaction's events are fixed before it is sent, and only a 2xx moves
 * the service on, so after a failure or a crash the same id goes again with the same events
 * (services deduplicate on the id). Failures back off exponentially, up to 5 minutes.
 */
export class TransactionSender {
  readonly #db: Knex;
  readonly #log: Logger;
  readonly #appservices: AppserviceService;
  readonly #targets: Registration[];
  readonly #wakes: WakeLoop;

  constructor(db: Knex, log: Logger, appservices: AppserviceService) {
    this.#db = db;
    this.#log = log;
    this.#appservices = appservices;
    this.#targets = appservices.registrations.filter((r) => r.url !== null);
    this.#wakes = new WakeLoop(async () => {
      await this.#loop();
      return IDLE_POLL_MS;
    });
  }

  async start(): Promise<void> {
    if (this.#targets.length === 0) return;
    await asRepo.ensureStates(this.#db, this.#targets.map((r) => r.id));
    this.#wakes.start();
  }

  wake(): void {
    if (this.#targets.length === 0) return;
    this.#wakes.wake();
  }

  /**
   * Queues an ephemeral event for the services that want it: those with receive_ephemeral whose
   * users are in the room (typing, receipts: `roomId`), or share a room with the user whose
   * presence changed (`userId`), or whose namespaces hold the room or the user.
   *
   * They wait in the database (appservice_edus), not in this process: the node where the typing
   * happened may not be the one holding the service's sending lease, and whichever node sends
   * the next transaction takes them. Only the node where a change happened queues it (remote
   * changes relayed to this node are not queued again), so each goes out once.
   */
  async queueEphemeral(edu: Edu, scope: { roomId?: string; userId?: string }): Promise<void> {
    const targets = this.#targets.filter((r) => r.receiveEphemeral);
    if (targets.length === 0 || this.#wakes.stopped) return;
    let rooms: string[] = [];
    if (scope.roomId !== undefined) rooms = [scope.roomId];
    else if (scope.userId !== undefined) rooms = (await membershipsRepo.roomsOfUser(this.#db, scope.userId, ['join'])).map((m) => m.room_id);
    const members = await asRepo.membersOfRooms(this.#db, rooms);
    const wantedBy: string[] = [];
    for (const reg of targets) {
      const owns = (u: string) => this.#appservices.owns(reg, u);
      const wanted =
        (scope.userId !== undefined && owns(scope.userId)) ||
        rooms.some((r) => (scope.roomId !== undefined && inNamespace(reg.rooms, r)) || (members.get(r) ?? []).some(owns));
      if (wanted) wantedBy.push(reg.id);
    }
    if (wantedBy.length === 0) return;
    await asRepo.queueEdu(this.#db, wantedBy, edu);
    // This node sends it at once if no other holds the lease; otherwise the holder's next
    // pass (within a second) takes it.
    this.wake();
  }

  /** Gives the waiting ephemeral events to transaction `txnId`; true when it holds some. */
  async #takeEdus(reg: Registration, txnId: number): Promise<boolean> {
    if (!reg.receiveEphemeral) return false;
    const held = await asRepo.takeEdus(this.#db, reg.id, txnId, MAX_EDUS);
    // A full transaction means a backlog: the service is slow or was down.
    if (held === MAX_EDUS) await asRepo.trimEdus(this.#db, reg.id, MAX_QUEUED_EDUS);
    return held > 0;
  }

  async stop(): Promise<void> {
    await this.#wakes.stop();
  }

  async #loop(): Promise<void> {
    try {
      for (;;) {
        this.#wakes.clearAgain();
        const claimed = await asRepo.claimDue(this.#db, this.#targets.map((r) => r.id), Date.now(), LEASE_MS);
        if (claimed.length === 0) return;
        const progressed = await Promise.all(claimed.map((st) => this.#step(st)));
        if (this.#wakes.stopped || !progressed.some(Boolean)) return;
      }
    } catch (err) {
      if (!this.#wakes.stopped) this.#log.error({ err }, 'application service transactions failed');
    }
  }

  /** One transaction (or one skip) for a claimed service; true when it moved on. */
  async #step(st: asRepo.AppserviceState): Promise<boolean> {
    const reg = this.#targets.find((r) => r.id === st.as_id)!;
    try {
      let eventIds = st.pending_event_ids;
      let upTo = st.pending_up_to;
      if (eventIds === null || upTo === null) {
        const scanned = await asRepo.eventsAfter(this.#db, st.stream_pos, SCAN);
        const withEdus = await this.#takeEdus(reg, st.next_txn_id);
        if (scanned.length === 0 && withEdus) {
          // No room event, but ephemeral ones wait: a transaction of those alone, fixed like
          // any other so that a retry of its id carries no events the first attempt lacked.
          eventIds = [];
          upTo = st.stream_pos;
          await asRepo.setPending(this.#db, reg.id, eventIds, upTo);
        } else if (scanned.length === 0) {
          await asRepo.release(this.#db, reg.id);
          return false;
        } else {
          const wanted = await this.#interesting(reg, scanned);
          const chosen = wanted.slice(0, MAX_EVENTS);
          upTo = chosen.length === MAX_EVENTS ? chosen.at(-1)!.streamPos : scanned.at(-1)!.streamPos;
          if (chosen.length === 0 && !withEdus) {
            await asRepo.skipTo(this.#db, reg.id, upTo);
            return true;
          }
          eventIds = chosen.map((e) => e.pdu.event_id);
          await asRepo.setPending(this.#db, reg.id, eventIds, upTo);
        }
      }
      const stored = await eventsRepo.findEventsByIds(this.#db, eventIds);
      stored.sort((a, b) => a.streamPos - b.streamPos);
      const events = await toClientEvents(this.#db, stored, { userId: this.#appservices.senderOf(reg) }, { withRoomId: true });
      const body: Record<string, unknown> = { events };
      if (reg.receiveEphemeral) {
        const edus = await asRepo.edusOf(this.#db, reg.id, st.next_txn_id);
        // The stable key, and MSC2409's, which bridges written before it was stable still read.
        body.ephemeral = edus;
        body['de.sorunome.msc2409.ephemeral'] = edus;
      }
      const res = await request(`${reg.url}/_matrix/app/v1/transactions/${st.next_txn_id}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${reg.hsToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      });
      await res.body.dump();
      if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`);
      await asRepo.acknowledged(this.#db, reg.id, st.next_txn_id, upTo);
      return true;
    } catch (err) {
      const attempts = st.attempts + 1;
      await asRepo.failed(this.#db, reg.id, Date.now() + backoffMs(attempts), (err as Error).message).catch(() => undefined);
      this.#log.warn({ id: reg.id, attempts, error: (err as Error).message }, 'application service transaction failed; will retry');
      return false;
    }
  }

  /**
   * Events a service is interested in: sent by or about its users, in its rooms, in rooms
   * with one of its aliases, or in rooms where one of its users is a member.
   */
  async #interesting(reg: Registration, events: StoredEvent[]): Promise<StoredEvent[]> {
    const owns = (u: string) => this.#appservices.owns(reg, u);
    const direct = (e: StoredEvent) =>
      owns(e.pdu.sender) || (e.pdu.type === 'm.room.member' && typeof e.pdu.state_key === 'string' && owns(e.pdu.state_key)) || inNamespace(reg.rooms, e.pdu.room_id);
    const rest = [...new Set(events.filter((e) => !direct(e)).map((e) => e.pdu.room_id))];
    const members = await asRepo.membersOfRooms(this.#db, rest);
    const aliases = reg.aliases.length > 0 ? await asRepo.aliasesOfRooms(this.#db, rest) : new Map<string, string[]>();
    const roomWanted = new Map<string, boolean>();
    for (const r of rest) {
      roomWanted.set(r, (members.get(r) ?? []).some(owns) || (aliases.get(r) ?? []).some((a) => inNamespace(reg.aliases, a)));
    }
    return events.filter((e) => direct(e) || roomWanted.get(e.pdu.room_id) === true);
  }
}
