import type { Knex } from 'knex';
import { invalidParam } from '../../errors.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import * as alertsRepo from '../../storage/alerts.ts';

const NO_ROOMS: ReadonlySet<string> = new Set();
const PAGE = 50;

/**
 * One alert as the feed sends it: short keys, nothing a phone on 2G does not need. When the
 * client already holds the alert as it stands (only the acknowledgement or roll-call answer
 * changed since its token, often from its own tap), the frame carries just those: it is the
 * echo of the phone's own ack, and on EDGE every byte of it is paid for.
 */
function frame(r: alertsRepo.FeedRow, since: number | undefined): Record<string, unknown> {
  if (since !== undefined && r.feed_pos <= since) {
    return {
      id: r.alert_id,
      ...(r.acknowledged_ts !== null ? { ack: r.acknowledged_ts } : {}),
      ...(r.rollcall_answer ? { ans: r.rollcall_answer } : {}),
    };
  }
  return {
    id: r.alert_id,
    sev: r.severity,
    title: r.title,
    body: r.body,
    ...(r.drill ? { drill: 1 } : {}),
    ...(r.state !== 'active' ? { state: r.state } : {}),
    ts: r.created_ts,
    code: r.reply_code,
    ...(r.acknowledged_ts !== null ? { ack: r.acknowledged_ts } : {}),
    ...(r.rollcall ? { rc: typeof r.rollcall === 'string' ? JSON.parse(r.rollcall) : r.rollcall } : {}),
    ...(r.rollcall_answer ? { ans: r.rollcall_answer } : {}),
  };
}

export function parseFeedToken(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const m = /^f(\d{1,15})$/.exec(s);
  if (!m) throw invalidParam('Invalid feed token.');
  return Number(m[1]);
}

/**
 * The alert feed for bad links: a long-poll that answers as soon as one of the user's alerts
 * is created, acknowledged or closed, in frames of a few hundred bytes. A client keeps the
 * `next` token; reconnecting with it returns everything it missed, in order.
 */
export class AlertFeed {
  readonly #db: Knex;
  readonly #bus: NotifyBus;

  constructor(db: Knex, bus: NotifyBus) {
    this.#db = db;
    this.#bus = bus;
  }

  async poll(userId: string, since: number | undefined, timeoutMs: number, signal?: AbortSignal): Promise<{ next: string; alerts: Record<string, unknown>[] }> {
    const deadline = Date.now() + Math.min(Math.max(timeoutMs, 0), 120_000);
    for (;;) {
      const tick = this.#bus.tick;
      const upTo = this.#bus.position;
      const from = since === undefined ? undefined : Math.min(since, upTo);
      const rows = from === undefined
        ? await alertsRepo.feedOf(this.#db, userId, 0, upTo, PAGE, true)
        : await alertsRepo.feedOf(this.#db, userId, from, upTo, PAGE);
      // A full page may not reach upTo: the next token is where this page stopped.
      const next = rows.length === PAGE && from !== undefined ? rows.at(-1)!.pos : upTo;
      const remaining = deadline - Date.now();
      if (rows.length > 0 || from === undefined || remaining <= 0) return { next: `f${next}`, alerts: rows.map((r) => frame(r, from)) };
      if (!(await this.#bus.wait(userId, NO_ROOMS, tick, remaining, signal))) return { next: `f${next}`, alerts: [] };
    }
  }
}
