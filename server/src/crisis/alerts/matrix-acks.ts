import type { Knex } from 'knex';
import type { Logger } from '../../logger.ts';
import type { Pdu } from '../../matrix/events/pdu.ts';
import * as deliveriesRepo from '../../storage/alert-deliveries.ts';
import * as alertRoomsRepo from '../../storage/alert-rooms.ts';
import * as alertsRepo from '../../storage/alerts.ts';
import type { AlertService } from './alert-service.ts';

const OK_REPLY = /^\s*ok\b[\s.,:;!-]*(\d{4})?/i;

/**
 * Acknowledgement from any Matrix client: a reaction to an alert message, a reply to it, or
 * "OK" typed in one's alert room. Only the recipient of that alert message can acknowledge it.
 */
export async function matrixAckOf(db: Knex, event: Pdu): Promise<{ alertId: string; userId: string } | undefined> {
  const relates = event.content['m.relates_to'] as { rel_type?: string; event_id?: string; 'm.in_reply_to'?: { event_id?: string } } | undefined;
  if (event.type === 'm.reaction' && relates?.rel_type === 'm.annotation' && typeof relates.event_id === 'string') {
    return targetOf(db, relates.event_id, event.sender, event.room_id);
  }
  if (event.type !== 'm.room.message' || typeof event.content.body !== 'string') return undefined;
  const ok = OK_REPLY.exec(event.content.body);
  if (!ok) return undefined;
  const replyTo = relates?.['m.in_reply_to']?.event_id;
  if (typeof replyTo === 'string') return targetOf(db, replyTo, event.sender, event.room_id);
  if ((await alertRoomsRepo.userOfAlertRoom(db, event.room_id)) !== event.sender) return undefined;
  const pending = await alertsRepo.latestPendingFor(db, [event.sender], ok[1]);
  return pending ? { alertId: pending.alert_id, userId: pending.user_id } : undefined;
}

async function targetOf(db: Knex, alertEventId: string, sender: string, roomId: string): Promise<{ alertId: string; userId: string } | undefined> {
  const delivery = await deliveriesRepo.findByExternalId(db, 'matrix', alertEventId);
  if (delivery) return delivery.user_id === sender ? { alertId: delivery.alert_id, userId: sender } : undefined;
  // The alert's post in a crisis room: whoever of its recipients reacts there acknowledges.
  const post = await alertRoomsRepo.roomPost(db, alertEventId);
  if (!post || post.room_id !== roomId || !(await alertsRepo.findRecipient(db, post.alert_id, sender))) return undefined;
  return { alertId: post.alert_id, userId: sender };
}

export function watchMatrixAcks(db: Knex, alerts: AlertService, systemUser: string, log: Logger): (events: Pdu[]) => void {
  return (events) => {
    for (const event of events) {
      if (event.sender === systemUser || (event.type !== 'm.reaction' && event.type !== 'm.room.message')) continue;
      void matrixAckOf(db, event)
        .then((target) => (target ? alerts.acknowledge(target.alertId, target.userId, 'matrix') : undefined))
        .catch((err: unknown) => log.warn({ err, eventId: event.event_id }, 'matrix acknowledgement failed'));
    }
  };
}
