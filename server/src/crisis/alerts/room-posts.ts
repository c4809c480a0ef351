import type { Logger } from '../../logger.ts';
import type { Pdu } from '../../matrix/events/pdu.ts';
import type { RoomContext } from '../../matrix/rooms/context.ts';
import * as membership from '../../matrix/rooms/membership.ts';
import * as alertRoomsRepo from '../../storage/alert-rooms.ts';
import { membershipOf } from '../../storage/memberships.ts';
import { alertTag } from '../channels/alert-text.ts';
import type { Delivery } from '../channels/channel.ts';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * An alert whose audience names a crisis room is also posted in that room, where the cell
 * works: everyone there sees it in any Matrix client, and a recipient's reaction to it
 * acknowledges. The Tocsin system user posts it, so the room must have invited it (it joins
 * on its own when invited). Each person still gets the alert in their own alert room with
 * their own link: this post is where the cell sees it together, not the delivery itself.
 */
export class AlertRoomPosts {
  readonly #rooms: RoomContext;
  readonly #systemUser: string;
  readonly #log: Logger;

  constructor(rooms: RoomContext, systemUser: string, log: Logger) {
    this.#rooms = rooms;
    this.#systemUser = systemUser;
    this.#log = log;
  }

  /** Posts the alert in each audience room the system user has joined. */
  async post(alert: Delivery['alert'], audience: string[]): Promise<void> {
    for (const roomId of new Set(audience.filter((a) => a.startsWith('!')))) {
      try {
        if ((await membershipOf(this.#rooms.db, roomId, this.#systemUser))?.membership !== 'join') continue;
        const tag = alertTag(alert, 'fr');
        const hint = 'Destinataires : réagissez à ce message pour accuser réception.';
        const [event] = await this.#rooms.writer.append(roomId, [
          {
            type: 'm.room.message',
            sender: this.#systemUser,
            content: {
              msgtype: 'm.text',
              body: `${tag} ${alert.title}\n${alert.body}\n\n${hint}`,
              format: 'org.matrix.custom.html',
              formatted_body: `<p><strong>${escapeHtml(tag)} ${escapeHtml(alert.title)}</strong></p><p>${escapeHtml(alert.body)}</p><p>${escapeHtml(hint)}</p>`,
              'org.tocsin.alert': { alert_id: alert.alertId, severity: alert.severity, title: alert.title, body: alert.body, drill: alert.drill },
            },
          },
        ]);
        await alertRoomsRepo.insertRoomPost(this.#rooms.db, { event_id: event!.event_id, alert_id: alert.alertId, room_id: roomId });
      } catch (err) {
        this.#log.warn({ err, alertId: alert.alertId, roomId }, 'posting the alert in its audience room failed');
      }
    }
  }

  /** Watches new events: the system user accepts the invitations it gets from local users. */
  watchInvites(): (events: Pdu[]) => void {
    return (events) => {
      for (const event of events) {
        if (event.type !== 'm.room.member' || event.state_key !== this.#systemUser || event.content.membership !== 'invite') continue;
        void membership
          .join(this.#rooms, this.#systemUser, event.room_id)
          .then(() => this.#log.info({ roomId: event.room_id, inviter: event.sender }, 'joined a room to post its alerts'))
          .catch((err: unknown) => this.#log.warn({ err, roomId: event.room_id }, 'joining on invitation failed'));
      }
    };
  }
}
