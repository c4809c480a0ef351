import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { Knex } from 'knex';
import { request } from 'undici';
import { forbidden, invalidParam, MatrixError, unknownToken } from '../../errors.ts';
import type { Requester } from '../../http/route.ts';
import type { Logger } from '../../logger.ts';
import * as usersRepo from '../../storage/users.ts';
import { hashToken } from '../auth/tokens.ts';
import { isValidUserId, userIdOf } from '../auth/user-ids.ts';
import { inNamespace, type Registration } from './registration.ts';

const QUERY_TIMEOUT_MS = 10_000;

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(hashToken(a));
  const y = Buffer.from(hashToken(b));
  return timingSafeEqual(x, y);
}

/**
 * Application services (Application Service API): `as_token` authentication with `user_id`
 * masquerading inside the service's user namespace, exclusive namespaces, user and alias
 * queries to the service, and the ping.
 */
export class AppserviceService {
  readonly #db: Knex;
  readonly #log: Logger;
  readonly #serverName: string;
  readonly registrations: readonly Registration[];
  readonly #byTokenHash = new Map<string, Registration>();

  constructor(db: Knex, log: Logger, serverName: string, registrations: readonly Registration[]) {
    this.#db = db;
    this.#log = log;
    this.#serverName = serverName;
    this.registrations = registrations;
    for (const r of registrations) this.#byTokenHash.set(hashToken(r.asToken), r);
  }

  byId(id: string): Registration | undefined {
    return this.registrations.find((r) => r.id === id);
  }

  senderOf(r: Registration): string {
    return userIdOf(r.senderLocalpart, this.#serverName);
  }

  /** Whether the user ID belongs to the service: its sender or its user namespace. */
  owns(r: Registration, userId: string): boolean {
    return userId === this.senderOf(r) || inNamespace(r.users, userId);
  }

  /** The service holding an exclusive claim on this user ID, if any. */
  exclusiveOwnerOfUser(userId: string): Registration | undefined {
    return this.registrations.find((r) => inNamespace(r.users, userId, true) || userId === this.senderOf(r));
  }

  exclusiveOwnerOfAlias(alias: string): Registration | undefined {
    return this.registrations.find((r) => inNamespace(r.aliases, alias, true));
  }

  /**
   * An as_token request: acts as the service's sender, or as `?user_id=` when that user is in
   * the service's namespace and registered. Undefined when the token is no service's.
   */
  async authenticate(token: string, req: Request): Promise<Requester | undefined> {
    const tokenHash = hashToken(token);
    const reg = this.#byTokenHash.get(tokenHash);
    if (!reg || !sameSecret(token, reg.asToken)) return undefined;
    const q = req.query.user_id;
    const asked = Array.isArray(q) ? q[0] : q;
    let userId = this.senderOf(reg);
    if (typeof asked === 'string' && asked !== '') {
      if (!isValidUserId(asked)) throw invalidParam('Invalid user_id.');
      if (!this.owns(reg, asked)) throw forbidden('Application service cannot masquerade as this user.');
      userId = asked;
    }
    const user = await usersRepo.findUser(this.#db, userId);
    if (userId !== this.senderOf(reg) && (!user || user.deactivated)) {
      throw forbidden('Application service has not registered this user.');
    }
    if (user?.deactivated) throw unknownToken(false);
    return { userId, deviceId: `AS_${reg.id}`.slice(0, 255), isAdmin: false, tokenHash, appserviceId: reg.id };
  }

  /** The service's sender exists from the start: bridges act as it before registering anyone. */
  async ensureSenders(createAccount: (localpart: string) => Promise<unknown>): Promise<void> {
    for (const r of this.registrations) {
      if (await usersRepo.findUser(this.#db, this.senderOf(r))) continue;
      await createAccount(r.senderLocalpart).catch((err: unknown) => this.#log.warn({ err, id: r.id }, 'cannot create the application service sender'));
    }
  }

  /** A GET to the service with its hs_token; true on a 2xx answer. */
  async #query(r: Registration, path: string): Promise<boolean> {
    if (!r.url) return false;
    try {
      const res = await request(`${r.url}${path}`, {
        method: 'GET',
        headers: { authorization: `Bearer ${r.hsToken}` },
        headersTimeout: QUERY_TIMEOUT_MS,
        bodyTimeout: QUERY_TIMEOUT_MS,
      });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 300;
    } catch (err) {
      this.#log.warn({ err, id: r.id }, 'application service query failed');
      return false;
    }
  }

  /**
   * An unknown user ID in a service's namespace: asks the service, which creates the user
   * before answering 200. True when the user now exists.
   */
  async queryUser(userId: string): Promise<boolean> {
    for (const r of this.registrations) {
      if (!inNamespace(r.users, userId)) continue;
      if (await this.#query(r, `/_matrix/app/v1/users/${encodeURIComponent(userId)}`)) {
        if (await usersRepo.findUser(this.#db, userId)) return true;
      }
    }
    return false;
  }

  /** An unknown alias in a service's namespace: asks the service, which creates the room. */
  async queryAlias(alias: string): Promise<boolean> {
    let any = false;
    for (const r of this.registrations) {
      if (!inNamespace(r.aliases, alias)) continue;
      if (await this.#query(r, `/_matrix/app/v1/rooms/${encodeURIComponent(alias)}`)) any = true;
    }
    return any;
  }

  /** POST /_matrix/client/v1/appservice/{id}/ping: the server calls the service's ping. */
  async ping(requester: Requester, appserviceId: string, transactionId: string | undefined): Promise<{ duration_ms: number }> {
    const r = this.byId(appserviceId);
    if (!r || requester.appserviceId !== r.id) throw forbidden('This is not your application service.');
    if (!r.url) throw new MatrixError(400, 'M_URL_NOT_SET', 'The application service has no URL.');
    const started = performance.now();
    let status: number;
    try {
      const res = await request(`${r.url}/_matrix/app/v1/ping`, {
        method: 'POST',
        headers: { authorization: `Bearer ${r.hsToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(transactionId === undefined ? {} : { transaction_id: transactionId }),
        headersTimeout: QUERY_TIMEOUT_MS,
        bodyTimeout: QUERY_TIMEOUT_MS,
      });
      await res.body.dump();
      status = res.statusCode;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code.includes('TIMEOUT')) throw new MatrixError(504, 'M_CONNECTION_TIMEOUT', 'The application service did not answer in time.');
      throw new MatrixError(502, 'M_CONNECTION_FAILED', 'Cannot reach the application service.');
    }
    if (status < 200 || status >= 300) {
      throw new MatrixError(502, 'M_BAD_STATUS', `The application service answered ${status}.`, { status });
    }
    return { duration_ms: Math.round(performance.now() - started) };
  }
}
