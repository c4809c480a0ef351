import type { Logger } from '../../logger.ts';
import { hashPassword, verifyPassword } from '../../matrix/auth/passwords.ts';
import type { Services } from '../../services.ts';
import * as directoryRepo from '../../storage/directory.ts';
import type { UserRow } from '../../storage/users.ts';
import type { LdapSource } from './ldap-source.ts';

const DAY_MS = 24 * 3600 * 1000;

/**
 * Login with the directory password: a bind as the person. The crisis may be the IT outage,
 * so each good bind leaves an argon2id hash of the password, which is accepted for
 * `offline_login_days` while LDAP cannot be reached (never when LDAP answers "wrong").
 */
export class DirectoryLogin {
  readonly #s: Services;
  readonly #ldap: LdapSource;
  readonly #offlineDays: number;
  readonly #log: Logger;

  constructor(s: Services, ldap: LdapSource, offlineDays: number, log: Logger) {
    this.#s = s;
    this.#ldap = ldap;
    this.#offlineDays = offlineDays;
    this.#log = log;
  }

  /** true/false for accounts fed by LDAP; undefined for the others (their local hash is checked). */
  async check(user: UserRow, password: string): Promise<boolean | undefined> {
    if (user.origin !== 'ldap') return undefined;
    const account = await directoryRepo.findAccount(this.#s.db, user.user_id);
    if (!account || account.source !== 'ldap') return undefined;
    let answer: { ok: boolean };
    try {
      answer = await this.#ldap.checkPassword(user.localpart, password);
    } catch (err) {
      return this.#offline(account, password, err);
    }
    if (answer.ok) {
      await directoryRepo.setOfflineHash(this.#s.db, user.user_id, await hashPassword(password), Date.now());
    }
    return answer.ok;
  }

  async #offline(account: directoryRepo.KnownAccount, password: string, err: unknown): Promise<boolean> {
    const fresh = account.offline_verified_ts !== null && Date.now() - account.offline_verified_ts <= this.#offlineDays * DAY_MS;
    const ok = fresh && (await verifyPassword(account.offline_hash, password));
    this.#log.warn(
      { audit: 'directory.offline_login', subject: account.user_id, accepted: ok, cached: account.offline_hash !== null, fresh, err: (err as Error).message },
      'LDAP unreachable: login checked against the last directory password',
    );
    return ok;
  }
}
