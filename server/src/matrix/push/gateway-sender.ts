import { WakeLoop } from '../../jobs/wake-loop.ts';
import type { Knex } from 'knex';
import { Agent, request } from 'undici';
import type { OutboundGuard } from '../../crisis/channels/outbound-guard.ts';
import type { Logger } from '../../logger.ts';
import * as eventsRepo from '../../storage/events.ts';
import * as pushRepo from '../../storage/push.ts';
import type { PushAction } from './default-rules.ts';
import { PUSH_NOTIFY_PATH } from './push-service.ts';

const BATCH = 20;
/** A claimed delivery is another node's after this long (its request died with it). */
const LEASE_MS = 60_000;
const IDLE_POLL_MS = 5_000;
const REQUEST_TIMEOUT_MS = 15_000;
/** Backoff: 1 s, 2 s, 4 s ... capped at 10 min; given up after this many attempts (~2 h). */
const MAX_ATTEMPTS = 18;
const MAX_BACKOFF_MS = 10 * 60_000;

export function backoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, attempts - 1));
}

/**
 * Delivers notifications to HTTP pushers through the Push Gateway API
 * (POST {url} with /_matrix/push/v1/notify), from durable rows claimed with SKIP LOCKED:
 * retried with exponential backoff, dropped after MAX_ATTEMPTS or on a 4xx answer, and a
 * pusher whose pushkey the gateway reports as `rejected` is removed.
 */
export class GatewaySender {
  readonly #db: Knex;
  readonly #log: Logger;
  readonly #guard: OutboundGuard;
  readonly #agent: Agent;
  readonly #wakes: WakeLoop;

  constructor(db: Knex, log: Logger, guard: OutboundGuard) {
    this.#db = db;
    this.#log = log;
    this.#guard = guard;
    // Every connection resolves through the guard: no gateway may point into private ranges.
    this.#agent = new Agent({ connect: { lookup: guard.lookup, timeout: 10_000 }, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
    this.#wakes = new WakeLoop(() => this.#run());
  }

  start(): void {
    this.#wakes.start();
  }

  wake(): void {
    this.#wakes.wake();
  }

  async stop(): Promise<void> {
    await this.#wakes.stop();
    await this.#agent.close();
  }

  /** One run; the next is due when the earliest retry is (at most the idle poll). */
  async #run(): Promise<number> {
    try {
      await this.#loop();
      const due = await pushRepo.nextDeliveryDue(this.#db);
      return due === undefined ? IDLE_POLL_MS : Math.max(0, Math.min(IDLE_POLL_MS, due - Date.now()));
    } catch (err) {
      if (!this.#wakes.stopped) this.#log.error({ err }, 'push delivery run failed');
      return IDLE_POLL_MS;
    }
  }

  async #loop(): Promise<void> {
    for (;;) {
      this.#wakes.clearAgain();
      const batch = await pushRepo.claimDeliveries(this.#db, Date.now(), LEASE_MS, BATCH);
      await Promise.all(batch.map((d) => this.#deliver(d).catch((err: unknown) => this.#log.warn({ err, id: d.id }, 'push delivery failed'))));
      if (this.#wakes.stopped || batch.length < BATCH) return;
    }
  }

  async #deliver(d: pushRepo.DeliveryRow): Promise<void> {
    const pusher = await pushRepo.findPusher(this.#db, d.pusher_id);
    // Gone pusher, or read meanwhile on another device: nothing to ring.
    if (!pusher || (await pushRepo.readPosition(this.#db, d.user_id, d.room_id)) >= d.event_stream_pos) {
      await pushRepo.deleteDelivery(this.#db, d.id);
      return;
    }
    const body = await this.#notification(d, pusher);
    let outcome: { ok: true; rejected: string[] } | { ok: false; permanent: boolean; error: string };
    try {
      const url = new URL(String(pusher.data.url));
      if (url.pathname !== PUSH_NOTIFY_PATH) throw new Error('bad gateway path');
      this.#guard.checkHost(url.hostname);
      const res = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.body.text();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        let rejected: string[] = [];
        try {
          const parsed = JSON.parse(text) as { rejected?: unknown };
          if (Array.isArray(parsed.rejected)) rejected = parsed.rejected.filter((k): k is string => typeof k === 'string');
        } catch {
          // A gateway that answers 200 without JSON accepted the notification all the same.
        }
        outcome = { ok: true, rejected };
      } else {
        outcome = { ok: false, permanent: res.statusCode >= 400 && res.statusCode < 500 && res.statusCode !== 429, error: `HTTP ${res.statusCode}` };
      }
    } catch (err) {
      outcome = { ok: false, permanent: false, error: (err as Error).message };
    }
    if (outcome.ok) {
      await pushRepo.deleteDelivery(this.#db, d.id);
      if (outcome.rejected.includes(pusher.pushkey)) {
        await pushRepo.deletePushersByKey(this.#db, pusher.app_id, [pusher.pushkey]);
        this.#log.info({ appId: pusher.app_id, userId: pusher.user_id }, 'push gateway rejected a pushkey: pusher removed');
      }
    } else if (outcome.permanent || d.attempts >= MAX_ATTEMPTS) {
      await pushRepo.deleteDelivery(this.#db, d.id);
      this.#log.warn({ appId: pusher.app_id, userId: pusher.user_id, error: outcome.error, attempts: d.attempts }, 'push notification given up');
    } else {
      await pushRepo.retryDelivery(this.#db, d.id, Date.now() + backoffMs(d.attempts), outcome.error);
    }
  }

  /** The body of /_matrix/push/v1/notify for one device. */
  async #notification(d: pushRepo.DeliveryRow, pusher: pushRepo.PusherRow): Promise<Record<string, unknown>> {
    const tweaks: Record<string, unknown> = {};
    for (const a of d.actions as PushAction[]) {
      if (typeof a === 'object' && a !== null && typeof a.set_tweak === 'string') tweaks[a.set_tweak] = a.value ?? true;
    }
    const { url: _url, ...data } = pusher.data;
    const device = { app_id: pusher.app_id, pushkey: pusher.pushkey, pushkey_ts: Math.floor(pusher.created_ts / 1000), data, tweaks };
    const unread = await pushRepo.totalUnread(this.#db, d.user_id);
    const n: Record<string, unknown> = { event_id: d.event_id, room_id: d.room_id, counts: { unread }, devices: [device] };
    const event = await eventsRepo.findEvent(this.#db, d.event_id);
    const highPriority = d.highlight || 'sound' in tweaks || event?.pdu.type === 'm.room.encrypted';
    n.prio = highPriority ? 'high' : 'low';
    if (pusher.data.format !== 'event_id_only' && event) {
      const pdu = event.pdu;
      n.type = pdu.type;
      n.sender = pdu.sender;
      if (event.redactedBy === null) n.content = pdu.content;
      if (pdu.type === 'm.room.member') n.user_is_target = pdu.state_key === d.user_id;
      const [name, member] = await Promise.all([
        eventsRepo.findStateEvent(this.#db, d.room_id, 'm.room.name', ''),
        eventsRepo.findStateEvent(this.#db, d.room_id, 'm.room.member', pdu.sender),
      ]);
      if (typeof name?.pdu.content.name === 'string') n.room_name = name.pdu.content.name;
      if (typeof member?.pdu.content.displayname === 'string') n.sender_display_name = member.pdu.content.displayname;
    }
    return { notification: n };
  }
}
