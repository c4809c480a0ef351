import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { forbidden, invalidParam, unknownToken, userDeactivated, userInUse } from '../../errors.ts';
import * as tokensRepo from '../../storage/access-tokens.ts';
import * as devicesRepo from '../../storage/devices.ts';
import * as usersRepo from '../../storage/users.ts';
import type { Requester } from '../../http/route.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { TokenCache } from './token-cache.ts';
import { hashToken, newAccessToken, newDeviceId } from './tokens.ts';
import { localpartOf, userIdOf, validateLocalpart } from './user-ids.ts';

export interface Session {
  user_id: string;
  access_token: string;
  device_id: string;
}

/**
 * Checks the password of an account fed by a directory (it binds to LDAP); undefined when the
 * account is not the directory's, so that the local hash is checked instead.
 */
export type ExternalPasswordCheck = (user: usersRepo.UserRow, password: string) => Promise<boolean | undefined>;

export interface AccountDeps {
  db: Knex;
  serverName: string;
  /** Called once devices are gone, for what other modules keep per device (E2EE keys). */
  devicesRemoved?: (userId: string, deviceIds: string[] | 'all') => Promise<void>;
}

/** Accounts, passwords and access tokens. */
export class AccountService {
  readonly #db: Knex;
  readonly #serverName: string;
  readonly #devicesRemoved: (userId: string, deviceIds: string[] | 'all') => Promise<void>;
  // 2 s: a long-polling client is served from memory, and a token revoked elsewhere (the CLI,
  // another node) is refused here 2 s later at most.
  readonly #tokens = new TokenCache(2_000);
  #external: ExternalPasswordCheck | undefined;

  constructor(deps: AccountDeps) {
    this.#db = deps.db;
    this.#serverName = deps.serverName;
    this.#devicesRemoved = deps.devicesRemoved ?? (async () => {});
  }

  /** Directory accounts check their password against the directory (see crisis/directory). */
  useExternalPasswordCheck(check: ExternalPasswordCheck): void {
    this.#external = check;
  }

  /** Creates an account; throws M_USER_IN_USE when the name is taken. */
  async createAccount(opts: { localpart?: string | undefined; password?: string | undefined; admin?: boolean; displayname?: string }): Promise<string> {
    const localpart = opts.localpart?.toLowerCase() ?? this.#randomLocalpart();
    validateLocalpart(localpart, this.#serverName);
    const userId = userIdOf(localpart, this.#serverName);
    const passwordHash = opts.password !== undefined ? await hashPassword(opts.password) : null;
    const created = await usersRepo.insertUser(this.#db, {
      user_id: userId,
      localpart,
      password_hash: passwordHash,
      admin: opts.admin ?? false,
      displayname: opts.displayname ?? localpart,
      avatar_url: null,
      created_ts: Date.now(),
    });
    if (!created) throw userInUse();
    return userId;
  }

  async isLocalpartAvailable(localpart: string): Promise<boolean> {
    validateLocalpart(localpart, this.#serverName);
    return !(await usersRepo.findUser(this.#db, userIdOf(localpart, this.#serverName)));
  }

  /** Checks a user's password; undefined when the user or the password is wrong. */
  async checkPassword(userOrLocalpart: string, password: string): Promise<usersRepo.UserRow | undefined> {
    let localpart: string;
    try {
      localpart = localpartOf(userOrLocalpart, this.#serverName);
    } catch {
      return undefined;
    }
    const user = await usersRepo.findUser(this.#db, userIdOf(localpart, this.#serverName));
    if (!user) {
      // Same cost as a real check, so timing does not tell which accounts exist.
      await verifyPassword(DUMMY_HASH, password);
      return undefined;
    }
    const external = this.#external ? await this.#external(user, password) : undefined;
    if (!(external ?? (await verifyPassword(user.password_hash, password)))) return undefined;
    if (user.deactivated || user.suspended) throw userDeactivated();
    return user;
  }

  /** A new device (or the named one) with a fresh access token. */
  async startSession(userId: string, deviceId: string | undefined, displayName: string | undefined): Promise<Session> {
    const device = deviceId ?? newDeviceId();
    if (device.length > 255) throw invalidParam('device_id too long.');
    const token = newAccessToken();
    const now = Date.now();
    await this.#db.transaction(async (trx) => {
      await devicesRepo.upsertDevice(trx, { user_id: userId, device_id: device, display_name: displayName ?? null, created_ts: now });
      // Logging in again with the same device id replaces its old token.
      await tokensRepo.deleteTokensOfDevices(trx, userId, [device]);
      await tokensRepo.insertToken(trx, { token_hash: hashToken(token), user_id: userId, device_id: device, created_ts: now });
    });
    this.#tokens.forgetUser(userId);
    return { user_id: userId, access_token: token, device_id: device };
  }

  async authenticate(token: string): Promise<Requester> {
    const tokenHash = hashToken(token);
    const cached = this.#tokens.get(tokenHash);
    if (cached) return cached;
    const generation = this.#tokens.generation;
    const owner = await tokensRepo.findTokenOwner(this.#db, tokenHash);
    if (!owner || owner.deactivated) throw unknownToken(false);
    const requester = { userId: owner.user_id, deviceId: owner.device_id, isAdmin: owner.admin, tokenHash };
    this.#tokens.set(tokenHash, requester, generation);
    return requester;
  }

  /** Logs out one device: its token and the device itself go. */
  async logout(requester: Requester): Promise<void> {
    await this.removeDevices(requester.userId, [requester.deviceId]);
  }

  async logoutAll(userId: string): Promise<void> {
    await this.removeDevices(userId, 'all');
  }

  async removeDevices(userId: string, deviceIds: string[] | 'all'): Promise<void> {
    await this.#db.transaction(async (trx) => {
      await tokensRepo.deleteTokensOfDevices(trx, userId, deviceIds);
      await devicesRepo.deleteDevices(trx, userId, deviceIds);
    });
    this.#tokens.forgetUser(userId);
    await this.#devicesRemoved(userId, deviceIds);
  }

  async changePassword(requester: Requester, newPassword: string, logoutDevices: boolean): Promise<void> {
    const hash = await hashPassword(newPassword);
    let removed: string[] = [];
    await this.#db.transaction(async (trx) => {
      await usersRepo.setPasswordHash(trx, requester.userId, hash);
      if (logoutDevices) {
        removed = (await devicesRepo.listDevices(trx, requester.userId)).map((d) => d.device_id).filter((d) => d !== requester.deviceId);
        await tokensRepo.deleteTokensOfDevices(trx, requester.userId, removed);
        await devicesRepo.deleteDevices(trx, requester.userId, removed);
      }
    });
    this.#tokens.forgetUser(requester.userId);
    await this.#devicesRemoved(requester.userId, removed);
  }

  /** Marks the account deactivated and logs every device out; leaving rooms is the caller's part. */
  async deactivate(userId: string): Promise<void> {
    await this.#db.transaction(async (trx) => {
      await usersRepo.markDeactivated(trx, userId);
      await tokensRepo.deleteTokensOfDevices(trx, userId, 'all');
      await devicesRepo.deleteDevices(trx, userId, 'all');
    });
    this.#tokens.forgetUser(userId);
    await this.#devicesRemoved(userId, 'all');
  }

  /**
   * Asked about a user ID that is not registered (an application service may create users of
   * its namespace on demand); true when the user now exists.
   */
  unknownUserResolver: ((userId: string) => Promise<boolean>) | undefined;

  async getUser(userId: string): Promise<usersRepo.UserRow | undefined> {
    const user = await usersRepo.findUser(this.#db, userId);
    if (user || !this.unknownUserResolver || !(await this.unknownUserResolver(userId))) return user;
    return usersRepo.findUser(this.#db, userId);
  }

  async requireUser(userId: string): Promise<usersRepo.UserRow> {
    const user = await this.getUser(userId);
    if (!user) throw forbidden('No such user.');
    return user;
  }

  #randomLocalpart(): string {
    return `u${randomBytes(6).toString('hex')}`;
  }
}

// A valid argon2id hash of a random string, verified against when the user does not exist.
const DUMMY_HASH = '$argon2id$v=19$m=65536,t=3,p=4$XvLwHjbLB0Z9na+gC1XFwg$rAHE16xVh5YqxxHWRmWhANT0ULL61vgRdYJx5IK0E48';
