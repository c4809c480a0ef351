import type { Knex } from 'knex';
import { MatrixError, tooLarge } from '../../errors.ts';
import type { NotifyBus } from '../../notify/bus.ts';
import { nextStreamPos } from '../../storage/stream.ts';
import * as toDeviceRepo from '../../storage/to-device.ts';

/** One message's content: room keys and verification requests are a few kilobytes. */
export const MAX_TO_DEVICE_CONTENT_BYTES = 64 * 1024;
/** Messages waiting for one device; beyond that the device is not reading them. */
const MAX_PENDING_PER_DEVICE = 10_000;
const MAX_RECIPIENT_DEVICES = 10_000;

/**
 * Send-to-device messaging: opaque content (encrypted by the clients) queued per device, each
 * send a stream position, delivered by /sync until the device acknowledges it.
 */
export class ToDeviceService {
  readonly #db: Knex;
  readonly #bus: NotifyBus;
  readonly #serverName: string;

  constructor(db: Knex, bus: NotifyBus, serverName: string) {
    this.#db = db;
    this.#bus = bus;
    this.#serverName = serverName;
  }

  async send(sender: { userId: string; deviceId: string }, type: string, txnId: string, messages: Record<string, Record<string, Record<string, unknown>>>): Promise<void> {
    const db = this.#db;
    const targets: Array<{ userId: string; deviceId: string; content: Record<string, unknown> }> = [];
    // No federation: messages for other servers' users have nowhere to go.
    const local = Object.keys(messages).filter((u) => u.endsWith(`:${this.#serverName}`));
    const devicesByUser = await toDeviceRepo.devicesOf(db, local);
    for (const userId of local) {
      const byDevice = messages[userId]!;
      const devices = devicesByUser.get(userId) ?? new Set<string>();
      for (const [deviceId, content] of Object.entries(byDevice)) {
        if (Buffer.byteLength(JSON.stringify(content)) > MAX_TO_DEVICE_CONTENT_BYTES) throw tooLarge('A to-device message is too large.');
        const ids = deviceId === '*' ? [...devices] : devices.has(deviceId) ? [deviceId] : [];
        for (const id of ids) targets.push({ userId, deviceId: id, content });
      }
      if (targets.length > MAX_RECIPIENT_DEVICES) throw new MatrixError(400, 'M_INVALID_PARAM', 'Too many recipient devices.');
    }
    let pos: number | undefined;
    await db.transaction(async (trx) => {
      // Replayed transaction: already delivered once, answered the same.
      if (!(await toDeviceRepo.claimTxn(trx, sender.userId, sender.deviceId, txnId, Date.now()))) return;
      if (targets.length === 0) return;
      const byUser = new Map<string, string[]>();
      for (const t of targets) byUser.set(t.userId, [...(byUser.get(t.userId) ?? []), t.deviceId]);
      for (const [userId, deviceIds] of byUser) {
        for (const [deviceId, n] of await toDeviceRepo.pendingCount(trx, userId, deviceIds)) {
          if (n >= MAX_PENDING_PER_DEVICE) throw new MatrixError(429, 'M_LIMIT_EXCEEDED', `Device ${deviceId} of ${userId} has too many messages waiting.`, { retry_after_ms: 60_000 });
        }
      }
      pos = await nextStreamPos(trx);
      await toDeviceRepo.insertMessages(
        trx,
        targets.map((t, seq) => ({ user_id: t.userId, device_id: t.deviceId, stream_pos: pos!, seq, sender: sender.userId, type, content: t.content })),
      );
    });
    if (pos !== undefined) this.#bus.publish({ pos, users: new Set(targets.map((t) => t.userId)) });
  }
}
