import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { MatrixError, forbidden, guestAccessForbidden, missingToken, registrationDisabled } from '../../errors.ts';
import { publicRoute, userRoute, type Requester, type RouteDef } from '../../http/route.ts';
import { userIdOf, validateLocalpart } from './user-ids.ts';
import type { Services } from '../../services.ts';

const identifier = z.object({ type: z.string(), user: z.string().optional() }).loose();

const loginBody = z
  .object({
    type: z.string(),
    identifier: identifier.optional(),
    user: z.string().optional(), // deprecated form of identifier
    password: z.string().max(1024).optional(),
    device_id: z.string().min(1).max(255).optional(),
    initial_device_display_name: z.string().max(512).optional(),
    refresh_token: z.boolean().optional(),
  })
  .loose();

const registerBody = z
  .object({
    username: z.string().optional(), // too long is M_INVALID_USERNAME (validateLocalpart)
    password: z.string().max(1024).optional(),
    device_id: z.string().min(1).max(255).optional(),
    initial_device_display_name: z.string().max(512).optional(),
    inhibit_login: z.boolean().optional(),
    auth: z.unknown().optional(),
    refresh_token: z.boolean().optional(),
  })
  .loose();

const sharedSecretBody = z.object({
  nonce: z.string(),
  username: z.string().max(255),
  password: z.string().max(1024),
  admin: z.boolean().optional(),
  displayname: z.string().max(512).optional(),
  user_type: z.string().nullable().optional(),
  mac: z.string(),
});

const V3 = '/_matrix/client/v3';

export function authRoutes(s: Services): RouteDef[] {
  const { accounts, config } = s;
  const nonces = new Map<string, number>();

  return [
    publicRoute('GET', `${V3}/login`, () => ({ flows: [{ type: 'm.login.password' }] })),

    publicRoute(
      'POST',
      `${V3}/login`,
      async ({ body, req }) => {
        s.limits.login.take(`ip:${req.ip}`);
        if (body.type !== 'm.login.password') {
          throw new MatrixError(400, 'M_UNKNOWN', `Login type ${body.type} is not supported.`);
        }
        const idType = body.identifier?.type ?? 'm.id.user';
        const user = body.identifier?.user ?? body.user;
        if (idType !== 'm.id.user') throw new MatrixError(400, 'M_UNKNOWN', `Identifier type ${idType} is not supported.`);
        if (!user || body.password === undefined) throw new MatrixError(400, 'M_BAD_JSON', 'user and password are required.');
        s.limits.login.take(`user:${user.toLowerCase()}`);
        const account = await accounts.checkPassword(user, body.password);
        if (!account) throw forbidden('Invalid username or password.');
        const session = await accounts.startSession(account.user_id, body.device_id, body.initial_device_display_name);
        return { ...session, home_server: config.serverName, well_known: { 'm.homeserver': { base_url: `${config.publicBaseUrl}/` } } };
      },
      { body: loginBody },
    ),

    publicRoute(
      'POST',
      `${V3}/register`,
      async ({ body, query, req, requester }) => {
        if (query.kind === 'guest') throw guestAccessForbidden();
        if (body.type === 'm.login.application_service') return registerForAppservice(body, requester);
        if (!config.enableRegistration) throw registrationDisabled();
        s.limits.register.take(`ip:${req.ip}`);
        if (body.username !== undefined) await checkAvailable(body.username);
        await s.uia.require(body.auth, [{ stages: ['m.login.dummy'] }], 'register', async (stage) => stage === 'm.login.dummy');
        const userId = await accounts.createAccount({ localpart: body.username, password: body.password });
        if (body.inhibit_login) return { user_id: userId };
        return accounts.startSession(userId, body.device_id, body.initial_device_display_name);
      },
      { body: registerBody },
    ),

    publicRoute('GET', `${V3}/register/available`, async ({ query }) => {
      if (!config.enableRegistration) throw registrationDisabled();
      if (!query.username) throw new MatrixError(400, 'M_MISSING_PARAM', 'username is required.');
      await checkAvailable(query.username);
      return { available: true };
    }),

    userRoute('POST', `${V3}/logout`, async ({ requester }) => {
      await accounts.logout(requester);
      return {};
    }),

    userRoute('POST', `${V3}/logout/all`, async ({ requester }) => {
      await accounts.logoutAll(requester.userId);
      return {};
    }),

    userRoute('GET', `${V3}/account/whoami`, ({ requester }) => ({
      user_id: requester.userId,
      device_id: requester.deviceId,
      is_guest: false,
    })),

    userRoute(
      'POST',
      `${V3}/account/password`,
      async ({ requester, body }) => {
        await s.uia.require(body.auth, [{ stages: ['m.login.password'] }], `password:${requester.userId}`, s.passwordStage(requester.userId));
        await accounts.changePassword(requester, body.new_password, body.logout_devices ?? true);
        return {};
      },
      { body: z.object({ new_password: z.string().min(1).max(1024), logout_devices: z.boolean().optional(), auth: z.unknown().optional() }).loose() },
    ),

    userRoute(
      'POST',
      `${V3}/account/deactivate`,
      async ({ requester, body }) => {
        await s.uia.require(body.auth, [{ stages: ['m.login.password'] }], `deactivate:${requester.userId}`, s.passwordStage(requester.userId));
        await s.deactivateUser(requester.userId);
        return { id_server_unbind_result: 'no-support' };
      },
      { body: z.object({ auth: z.unknown().optional(), erase: z.boolean().optional() }).loose() },
    ),

    publicRoute('GET', '/_synapse/admin/v1/register', () => {
      if (!config.registrationSharedSecret) throw new MatrixError(400, 'M_UNKNOWN', 'Shared secret registration is not enabled.');
      const nonce = randomBytes(16).toString('hex');
      const now = Date.now();
      for (const [n, t] of nonces) if (t < now) nonces.delete(n);
      nonces.set(nonce, now + 60_000);
      return { nonce };
    }),

    publicRoute(
      'POST',
      '/_synapse/admin/v1/register',
      async ({ body }) => {
        const secret = config.registrationSharedSecret;
        if (!secret) throw new MatrixError(400, 'M_UNKNOWN', 'Shared secret registration is not enabled.');
        const expires = nonces.get(body.nonce);
        if (!expires || expires < Date.now()) throw new MatrixError(400, 'M_UNKNOWN', 'Unrecognised nonce.');
        nonces.delete(body.nonce);
        // Synapse's MAC: HMAC-SHA1 over nonce, user, password, admin flag (and user type), NUL-separated.
        const mac = createHmac('sha1', secret);
        mac.update(body.nonce).update('\x00').update(body.username).update('\x00').update(body.password).update('\x00');
        mac.update(body.admin ? 'admin' : 'notadmin');
        if (body.user_type) mac.update('\x00').update(body.user_type);
        const expected = Buffer.from(mac.digest('hex'));
        const given = Buffer.from(body.mac.toLowerCase());
        if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw forbidden('HMAC incorrect.');
        const userId = await accounts.createAccount({
          localpart: body.username,
          password: body.password,
          admin: body.admin ?? false,
          ...(body.displayname ? { displayname: body.displayname } : {}),
        });
        const session = await accounts.startSession(userId, undefined, undefined);
        return { ...session, home_server: config.serverName };
      },
      { body: sharedSecretBody },
    ),
  ];

  async function checkAvailable(username: string): Promise<void> {
    if (!(await accounts.isLocalpartAvailable(username.toLowerCase()))) {
      throw new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken.');
    }
    // IDs in an application service's exclusive namespace are that service's alone.
    if (s.appservices.exclusiveOwnerOfUser(userIdOf(username.toLowerCase(), config.serverName))) {
      throw new MatrixError(400, 'M_EXCLUSIVE', 'This user ID is reserved by an application service.');
    }
  }

  /** type m.login.application_service: a service registers a user of its namespace. */
  async function registerForAppservice(body: z.infer<typeof registerBody>, requester: Requester | undefined) {
    const reg = requester?.appserviceId ? s.appservices.byId(requester.appserviceId) : undefined;
    if (!requester) throw missingToken();
    if (!reg) throw forbidden('Only an application service may use m.login.application_service.');
    if (typeof body.username !== 'string' || body.username === '') throw new MatrixError(400, 'M_MISSING_PARAM', 'username is required.');
    const localpart = body.username.toLowerCase();
    validateLocalpart(localpart, config.serverName);
    if (!s.appservices.owns(reg, userIdOf(localpart, config.serverName))) {
      throw new MatrixError(400, 'M_EXCLUSIVE', 'This user ID is not in the namespace of the application service.');
    }
    const userId = await accounts.createAccount({ localpart });
    if (body.inhibit_login) return { user_id: userId };
    return accounts.startSession(userId, body.device_id, body.initial_device_display_name);
  }
}
