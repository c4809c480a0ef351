import type { Logger } from '../../logger.ts';
import type { RoomContext } from '../../matrix/rooms/context.ts';
import { createRoom } from '../../matrix/rooms/create-room.ts';
import * as membership from '../../matrix/rooms/membership.ts';
import * as alertRoomsRepo from '../../storage/alert-rooms.ts';
import { membershipOf } from '../../storage/memberships.ts';
import { alertTag, languageOf } from './alert-text.ts';
import { PermanentChannelError, type ChannelAdapter, type ChannelHealth, type Delivery, type SendResult } from './channel.ts';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The Matrix channel: each person has a private "Alertes" room with the Tocsin system user,
 * joined on their behalf (an institution's alerting channel, like server notices), where each
 * alert arrives as a message every Matrix client shows and notifies. The message also carries
 * `org.tocsin.alert` for clients that know it; a reaction or an "OK" reply acknowledges.
 */
export class MatrixChannel implements ChannelAdapter {
  readonly name = 'matrix' as const;
  readonly #rooms: RoomContext;
  readonly #systemUser: string;
  readonly #log: Logger;
  readonly #creating = new Map<string, Promise<string>>();

  constructor(rooms: RoomContext, systemUser: string, log: Logger) {
    this.#rooms = rooms;
    this.#systemUser = systemUser;
    this.#log = log;
  }

  async send(d: Delivery): Promise<SendResult> {
    const roomId = await this.alertRoomOf(d.recipient.userId);
    const tag = alertTag(d.alert, languageOf(d.recipient));
    const body = `${tag} ${d.alert.title}\n${d.alert.body}\n\nRéagissez à ce message ou répondez OK pour accuser réception : ${d.ackUrl}`;
    const formatted =
      `<p><strong>${escapeHtml(tag)} ${escapeHtml(d.alert.title)}</strong></p><p>${escapeHtml(d.alert.body)}</p>` +
      `<p>Réagissez à ce message ou répondez OK pour accuser réception : <a href="${escapeHtml(d.ackUrl)}">accuser réception</a></p>`;
    const [event] = await this.#rooms.writer.append(roomId, [
      {
        type: 'm.room.message',
        sender: this.#systemUser,
        content: {
          msgtype: 'm.text',
          body,
          format: 'org.matrix.custom.html',
          formatted_body: formatted,
          'm.mentions': { user_ids: [d.recipient.userId] },
          'org.tocsin.alert': {
            alert_id: d.alert.alertId,
            severity: d.alert.severity,
            title: d.alert.title,
            body: d.alert.body,
            drill: d.alert.drill,
            ack_url: d.ackUrl,
          },
        },
      },
    ]);
    return { state: 'sent', externalId: event!.event_id };
  }

  /** The person's alert room, created (and joined for them) on first use. */
  async alertRoomOf(userId: string): Promise<string> {
    const existing = await alertRoomsRepo.alertRoomOf(this.#rooms.db, userId);
    if (existing) {
      await this.#ensureJoined(existing, userId);
      return existing;
    }
    let pending = this.#creating.get(userId);
    if (!pending) {
      pending = this.#create(userId).finally(() => this.#creating.delete(userId));
      this.#creating.set(userId, pending);
    }
    return pending;
  }

  async #create(userId: string): Promise<string> {
    const user = await this.#rooms.accounts.getUser(userId);
    if (!user || user.deactivated) throw new PermanentChannelError('account is not active');
    const { room_id: roomId } = await createRoom(this.#rooms, this.#systemUser, {
      preset: 'private_chat',
      name: 'Alertes Tocsin',
      topic: "Alertes de l'institution. Réagissez ou répondez OK pour accuser réception.",
      invite: [userId],
      is_direct: true,
    });
    await membership.join(this.#rooms, userId, roomId);
    await alertRoomsRepo.insertAlertRoom(this.#rooms.db, userId, roomId);
    this.#log.info({ userId, roomId }, 'alert room created');
    return (await alertRoomsRepo.alertRoomOf(this.#rooms.db, userId)) ?? roomId;
  }

  async #ensureJoined(roomId: string, userId: string): Promise<void> {
    const m = await membershipOf(this.#rooms.db, roomId, userId);
    if (m?.membership === 'join') return;
    // Someone who left their alert room is brought back: alerts must reach them.
    if (m?.membership !== 'invite') await membership.invite(this.#rooms, this.#systemUser, roomId, userId);
    await membership.join(this.#rooms, userId, roomId);
  }

  async health(): Promise<ChannelHealth> {
    return { ok: true };
  }

  async close(): Promise<void> {}
}
