import type { Knex } from 'knex';
import type { Logger } from '../../logger.ts';
import * as deliveriesRepo from '../../storage/alert-deliveries.ts';
import type { ChannelEvents, ChannelName } from '../channels/channel.ts';
import { maskPhone, type AlertService } from './alert-service.ts';

/** What transports report later: delivery receipts, and replies that acknowledge. */
export class AlertChannelEvents implements ChannelEvents {
  readonly #db: Knex;
  readonly #alerts: AlertService;
  readonly #log: Logger;
  readonly #changed: (alertId: string, userIds: string[]) => void;

  constructor(db: Knex, alerts: AlertService, log: Logger, changed: (alertId: string, userIds: string[]) => void) {
    this.#db = db;
    this.#alerts = alerts;
    this.#log = log;
    this.#changed = changed;
  }

  async delivered(channel: ChannelName, externalId: string, ok: boolean, detail?: string, deliveryId?: string): Promise<void> {
    // By its id when the adapter knows it: the external id may not be recorded yet (outcomes
    // are written in batches) when a fast receipt comes in.
    const byId = deliveryId && /^\d{1,18}$/.test(deliveryId) ? await deliveriesRepo.findDelivery(this.#db, Number(deliveryId)) : undefined;
    const delivery = byId?.channel === channel ? byId : await deliveriesRepo.findByExternalId(this.#db, channel, externalId);
    if (!delivery) {
      this.#log.debug({ channel, externalId }, 'receipt for an unknown message');
      return;
    }
    await deliveriesRepo.markReceipt(this.#db, delivery.id, ok, detail, Date.now());
    this.#changed(delivery.alert_id, [delivery.user_id]);
  }

  async reply(channel: ChannelName, from: string, text: string): Promise<void> {
    const acked = await this.#alerts.acknowledgeBySms(from, text);
    if (acked) this.#log.info({ channel, from: maskPhone(from), alertId: acked.alertId }, 'acknowledged by reply');
  }
}
