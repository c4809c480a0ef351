import type { Knex } from 'knex';
import { recordAudit } from '../../audit/audit-log.ts';
import { notFound } from '../../errors.ts';
import type { Requester } from '../../http/route.ts';
import type { Logger } from '../../logger.ts';
import type { AccountService } from '../../matrix/auth/accounts.ts';
import * as directoryRepo from '../../storage/directory.ts';
import * as devicesRepo from '../../storage/devices.ts';
import * as usersRepo from '../../storage/users.ts';

/**
 * A lost or stolen device: administrators list a person's devices and revoke one or all.
 * A revoked token answers M_UNKNOWN_TOKEN with soft_logout false, so clients wipe their data.
 * Every revocation, and every read of someone else's devices, is in the audit log.
 */
export class DeviceAdminService {
  readonly #db: Knex;
  readonly #accounts: AccountService;
  readonly #log: Logger;

  constructor(db: Knex, accounts: AccountService, log: Logger) {
    this.#db = db;
    this.#accounts = accounts;
    this.#log = log;
  }

  async #requireUser(userId: string): Promise<void> {
    if (!(await usersRepo.findUser(this.#db, userId))) throw notFound('Unknown user.');
  }

  async list(admin: Requester, userId: string): Promise<Array<Record<string, unknown>>> {
    await this.#requireUser(userId);
    const devices = await devicesRepo.listDevices(this.#db, userId);
    if (admin.userId !== userId) await recordAudit(this.#db, this.#log, { actor: admin.userId, action: 'devices.read', target_user: userId, details: { devices: devices.length } });
    return devices.map((d) => ({
      device_id: d.device_id,
      display_name: d.display_name,
      created_ts: Number(d.created_ts),
      last_seen_ts: d.last_seen_ts === null ? null : Number(d.last_seen_ts),
      last_seen_ip: d.last_seen_ip,
    }));
  }

  /** Revokes the named devices, or all of them; returns the ids revoked. */
  async revoke(admin: Requester, userId: string, deviceIds: string[] | 'all'): Promise<string[]> {
    await this.#requireUser(userId);
    const existing = (await devicesRepo.listDevices(this.#db, userId)).map((d) => d.device_id);
    const targets = deviceIds === 'all' ? existing : deviceIds.filter((d) => existing.includes(d));
    if (deviceIds !== 'all' && targets.length === 0) throw notFound('Unknown device.');
    await this.#accounts.removeDevices(userId, deviceIds === 'all' ? 'all' : targets);
    await directoryRepo.deletePushSubscriptions(this.#db, userId, deviceIds === 'all' ? 'all' : targets);
    await recordAudit(
      this.#db,
      this.#log,
      targets.map((device) => ({ actor: admin.userId, action: 'device.revoke', target_user: userId, details: { device_id: device, all: deviceIds === 'all' } })),
    );
    return targets;
  }
}
