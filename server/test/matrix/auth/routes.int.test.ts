// Accounts: registration (open, with its UIA dance, and Synapse's shared secret), login,
// logout, whoami, password change and deactivation (UIA with m.login.password).
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authRoutes } from '../../../src/matrix/auth/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import {
  CallLog,
  SpecApi,
  V3,
  createRoom,
  expectError,
  ok,
  registerSpecUser,
  type SpecUser,
} from '../../support/spec-client.ts';

const SHARED_SECRET = 'test-shared-secret';

/** Synapse's documented MAC: HMAC-SHA1 over nonce, user, password, admin flag [, user_type], NUL-separated. */
function synapseMac(secret: string, nonce: string, user: string, password: string, admin: boolean, userType?: string): string {
  const mac = createHmac('sha1', Buffer.from(secret, 'utf8'));
  mac.update(nonce).update('\x00').update(user).update('\x00').update(password).update('\x00').update(admin ? 'admin' : 'notadmin');
  if (userType) mac.update('\x00').update(userType);
  return mac.digest('hex');
}

describe('auth routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let anon: SpecApi;
  let unique = 0;
  const name = (prefix: string) => `${prefix}${++unique}x${process.pid}`;

  beforeAll(async () => {
    server = await startTestServer();
    anon = new SpecApi(server.url, undefined, log);
  });

  afterAll(async () => {
    log.expectRoutesCovered(authRoutes(server.services));
    await closeAllTestServers();
  });

  async function login(user: string, password: string, extra: Record<string, unknown> = {}) {
    return anon.post(`${V3}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password, ...extra });
  }

  describe('registration', () => {
    it('walks the UIA dance with m.login.dummy', async () => {
      const username = name('dana');
      const first = await anon.post(`${V3}/register`, { username, password: 'pw-dana' });
      expect(first.status).toBe(401);
      expect(first.body.flows).toEqual([{ stages: ['m.login.dummy'] }]);
      expect(typeof first.body.session).toBe('string');
      expect(first.body.errcode).toBeUndefined();

      const done = ok(await anon.post(`${V3}/register`, { username, password: 'pw-dana', initial_device_display_name: 'Laptop', auth: { type: 'm.login.dummy', session: first.body.session } }));
      expect(done.user_id).toBe(`@${username}:localhost`);
      expect(typeof done.access_token).toBe('string');
      const me = ok(await anon.as(done.access_token).get(`${V3}/account/whoami`));
      expect(me).toEqual({ user_id: done.user_id, device_id: done.device_id, is_guest: false });
      const devices = ok(await anon.as(done.access_token).get(`${V3}/devices`)).devices;
      expect(devices).toEqual([expect.objectContaining({ device_id: done.device_id, display_name: 'Laptop' })]);

      // The completed session cannot be replayed to register someone else.
      const replay = await anon.post(`${V3}/register`, { username: name('eve'), password: 'x', auth: { type: 'm.login.dummy', session: first.body.session } });
      expect(replay.status).toBeGreaterThanOrEqual(400);
      expect(replay.status).not.toBe(200);
    });

    it('registers in one step with the dummy stage, keeps a chosen device id, and honours inhibit_login', async () => {
      const username = name('fred');
      const res = ok(await anon.post(`${V3}/register`, { username, password: 'pw', device_id: 'FREDPHONE', auth: { type: 'm.login.dummy' } }));
      expect(res.device_id).toBe('FREDPHONE');
      const inhibited = ok(await anon.post(`${V3}/register`, { username: name('gina'), password: 'pw', inhibit_login: true, auth: { type: 'm.login.dummy' } }));
      expect(inhibited.access_token).toBeUndefined();
      expect(inhibited.device_id).toBeUndefined();
      expect(inhibited.user_id).toMatch(/^@gina/);
      // Without a username the server picks one.
      const generated = ok(await anon.post(`${V3}/register`, { password: 'pw', auth: { type: 'm.login.dummy' } }));
      expect(generated.user_id).toMatch(/^@[a-z0-9._=\-/+]+:localhost$/);
    });

    it('checks the username before any UIA stage', async () => {
      const taken = await registerSpecUser(server.url, log);
      const localpart = taken.userId.slice(1).split(':')[0]!;
      expectError(await anon.post(`${V3}/register`, { username: localpart, password: 'x' }), 400, 'M_USER_IN_USE');
      expectError(await anon.post(`${V3}/register`, { username: localpart.toUpperCase(), password: 'x' }), 400, 'M_USER_IN_USE');
      for (const bad of ['has space', 'quote"s', "o'reilly", 'semi;colon', 'colon:x', 'ünï', '', 'a'.repeat(300), '@x:localhost', "x'; DROP TABLE users; --"]) {
        expectError(await anon.post(`${V3}/register`, { username: bad, password: 'x', auth: { type: 'm.login.dummy' } }), 400, 'M_INVALID_USERNAME');
      }
    });

    it('refuses guests, unknown stages and sessions of another purpose', async () => {
      expectError(await anon.post(`${V3}/register?kind=guest`, {}), 403, 'M_GUEST_ACCESS_FORBIDDEN');
      const wrongStage = await anon.post(`${V3}/register`, { username: name('hal'), password: 'x', auth: { type: 'm.login.password', password: 'x' } });
      expect(wrongStage.status).toBe(401);
      expect(wrongStage.body.flows).toBeDefined();
      expect(wrongStage.body.errcode).toBeDefined();
      // A session opened for a password change does not register anyone.
      const user = await registerSpecUser(server.url, log);
      const pwSession = (await user.api.post(`${V3}/account/password`, { new_password: 'n' })).body.session as string;
      const res = await anon.post(`${V3}/register`, { username: name('ivy'), password: 'x', auth: { type: 'm.login.dummy', session: pwSession } });
      expect(res.status).not.toBe(200);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expectError(await anon.post(`${V3}/register`, { username: name('jon'), auth: { type: 'm.login.dummy', session: 'no-such-session' } }), 400, 'M_UNKNOWN');
    });

    it('answers /register/available', async () => {
      expect(ok(await anon.get(`${V3}/register/available?username=${name('kim')}`))).toEqual({ available: true });
      const taken = await registerSpecUser(server.url, log);
      expectError(await anon.get(`${V3}/register/available?username=${enc(taken.userId.slice(1).split(':')[0]!)}`), 400, 'M_USER_IN_USE');
      expectError(await anon.get(`${V3}/register/available?username=${enc('not valid!')}`), 400, 'M_INVALID_USERNAME');
      expectError(await anon.get(`${V3}/register/available`), 400, 'M_MISSING_PARAM');
    });
  });

  describe('login', () => {
    let lea: SpecUser;
    beforeAll(async () => {
      lea = await registerSpecUser(server.url, log, name('lea'), 'lea-password');
    });

    it('lists the password flow', async () => {
      expect(ok(await anon.get(`${V3}/login`)).flows).toEqual([{ type: 'm.login.password' }]);
    });

    it('logs in by localpart, by user id, by the deprecated `user` field, in any case', async () => {
      const localpart = lea.userId.slice(1).split(':')[0]!;
      for (const body of [
        { type: 'm.login.password', identifier: { type: 'm.id.user', user: localpart }, password: 'lea-password' },
        { type: 'm.login.password', identifier: { type: 'm.id.user', user: lea.userId }, password: 'lea-password' },
        { type: 'm.login.password', identifier: { type: 'm.id.user', user: lea.userId.toUpperCase().replace(':LOCALHOST', ':localhost') }, password: 'lea-password' },
        { type: 'm.login.password', user: localpart, password: 'lea-password' },
      ]) {
        const res = ok(await anon.post(`${V3}/login`, body));
        expect(res.user_id).toBe(lea.userId);
        expect(res.well_known['m.homeserver'].base_url).toMatch(/^http/);
        expect(ok(await anon.as(res.access_token).get(`${V3}/account/whoami`)).device_id).toBe(res.device_id);
      }
    });

    it('refuses wrong passwords, unknown users and users of other servers alike', async () => {
      expectError(await login(lea.userId, 'wrong'), 403, 'M_FORBIDDEN');
      expectError(await login('nobody-here', 'lea-password'), 403, 'M_FORBIDDEN');
      expectError(await login(lea.userId.replace(':localhost', ':elsewhere.org'), 'lea-password'), 403, 'M_FORBIDDEN');
      expectError(await login(`' OR '1'='1`, `' OR '1'='1`), 403, 'M_FORBIDDEN');
    });

    it('refuses unsupported login types and identifiers', async () => {
      expectError(await anon.post(`${V3}/login`, { type: 'm.login.token', token: 'x' }), 400, 'M_UNKNOWN');
      expectError(await anon.post(`${V3}/login`, { type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: 'a@b.c' }, password: 'x' }), 400, 'M_UNKNOWN');
      expectError(await anon.post(`${V3}/login`, { type: 'm.login.password', password: 'x' }), 400, ['M_BAD_JSON', 'M_MISSING_PARAM', 'M_INVALID_PARAM']);
    });

    it('reusing a device id replaces that device token; other devices keep theirs', async () => {
      const a = ok(await login(lea.userId, 'lea-password', { device_id: 'LEADESK', initial_device_display_name: 'Desk' }));
      const b = ok(await login(lea.userId, 'lea-password', { device_id: 'LEADESK' }));
      expect(b.device_id).toBe('LEADESK');
      expectError(await anon.as(a.access_token).get(`${V3}/account/whoami`), 401, 'M_UNKNOWN_TOKEN');
      ok(await anon.as(b.access_token).get(`${V3}/account/whoami`));
      ok(await lea.api.get(`${V3}/account/whoami`));
      const desk = ok(await lea.api.get(`${V3}/devices/LEADESK`));
      expect(desk.display_name).toBe('Desk');
    });
  });

  describe('tokens', () => {
    it('logout kills the token and the device; replaying it answers M_UNKNOWN_TOKEN', async () => {
      const max = await registerSpecUser(server.url, log, name('max'), 'pw-max');
      const second = ok(await login(max.userId, 'pw-max'));
      ok(await max.api.post(`${V3}/logout`, {}));
      for (let i = 0; i < 2; i++) {
        const res = await max.api.get(`${V3}/account/whoami`);
        expectError(res, 401, 'M_UNKNOWN_TOKEN');
        expect(res.body.soft_logout).toBe(false);
      }
      expectError(await max.api.post(`${V3}/logout`, {}), 401, 'M_UNKNOWN_TOKEN');
      const other = anon.as(second.access_token);
      const devices = ok(await other.get(`${V3}/devices`)).devices.map((d: { device_id: string }) => d.device_id);
      expect(devices).toEqual([second.device_id]);
    });

    it('logout/all kills every token of the user, and only theirs', async () => {
      const nia = await registerSpecUser(server.url, log, name('nia'), 'pw-nia');
      const bystander = await registerSpecUser(server.url, log);
      const tokens = [nia.token];
      for (let i = 0; i < 3; i++) tokens.push(ok(await login(nia.userId, 'pw-nia')).access_token);
      ok(await anon.as(tokens[2]).post(`${V3}/logout/all`, {}));
      for (const t of tokens) expectError(await anon.as(t).get(`${V3}/account/whoami`), 401, 'M_UNKNOWN_TOKEN');
      ok(await bystander.api.get(`${V3}/account/whoami`));
      // Logging in again works.
      ok(await anon.as(ok(await login(nia.userId, 'pw-nia')).access_token).get(`${V3}/account/whoami`));
    });

    it('whoami needs a token', async () => {
      expectError(await anon.get(`${V3}/account/whoami`), 401, 'M_MISSING_TOKEN');
      expectError(await anon.as('tct_forged').get(`${V3}/account/whoami`), 401, 'M_UNKNOWN_TOKEN');
    });
  });

  describe('password change (UIA m.login.password)', () => {
    it('challenges, refuses a wrong password, then changes it and logs out the other devices', async () => {
      const olga = await registerSpecUser(server.url, log, name('olga'), 'old-pw');
      const other = ok(await login(olga.userId, 'old-pw'));

      const challenge = await olga.api.post(`${V3}/account/password`, { new_password: 'new-pw' });
      expect(challenge.status).toBe(401);
      expect(challenge.body.flows).toEqual([{ stages: ['m.login.password'] }]);
      const session = challenge.body.session as string;

      const wrong = await olga.api.post(`${V3}/account/password`, {
        new_password: 'new-pw',
        auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: olga.userId }, password: 'not-it', session },
      });
      expect(wrong.status).toBe(401);
      expect(wrong.body.errcode).toBe('M_FORBIDDEN');
      expect(wrong.body.session).toBe(session);

      // Another user's password does not re-authenticate olga.
      const pat = await registerSpecUser(server.url, log, name('pat'), 'pat-pw');
      const impostor = await olga.api.post(`${V3}/account/password`, {
        new_password: 'new-pw',
        auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: pat.userId }, password: 'pat-pw', session },
      });
      expect(impostor.status).toBe(401);

      ok(await olga.api.post(`${V3}/account/password`, {
        new_password: 'new-pw',
        auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: olga.userId }, password: 'old-pw', session },
      }));
      expectError(await login(olga.userId, 'old-pw'), 403, 'M_FORBIDDEN');
      ok(await login(olga.userId, 'new-pw'));
      ok(await olga.api.get(`${V3}/account/whoami`));
      expectError(await anon.as(other.access_token).get(`${V3}/account/whoami`), 401, 'M_UNKNOWN_TOKEN');
    });

    it('keeps the other devices with logout_devices: false', async () => {
      const quinn = await registerSpecUser(server.url, log, name('quinn'), 'q1');
      const other = ok(await login(quinn.userId, 'q1'));
      ok(await quinn.api.post(`${V3}/account/password`, {
        new_password: 'q2',
        logout_devices: false,
        auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: quinn.userId }, password: 'q1' },
      }));
      ok(await anon.as(other.access_token).get(`${V3}/account/whoami`));
      expectError(await quinn.api.post(`${V3}/account/password`, { new_password: '' }), 400, 'M_BAD_JSON');
    });
  });

  describe('deactivation (UIA m.login.password)', () => {
    it('deactivates: tokens die, login fails, the profile is gone, rooms are left', async () => {
      const rae = await registerSpecUser(server.url, log, name('rae'), 'rae-pw');
      const host = await registerSpecUser(server.url, log);
      const roomId = await createRoom(host.api, { preset: 'public_chat' });
      ok(await rae.api.post(`${V3}/join/${enc(roomId)}`, {}));

      const challenge = await rae.api.post(`${V3}/account/deactivate`, {});
      expect(challenge.status).toBe(401);
      expect(challenge.body.flows).toEqual([{ stages: ['m.login.password'] }]);
      const wrong = await rae.api.post(`${V3}/account/deactivate`, { auth: { type: 'm.login.password', user: rae.userId, password: 'nope', session: challenge.body.session } });
      expect(wrong.status).toBe(401);
      expect(wrong.body.errcode).toBe('M_FORBIDDEN');
      ok(await rae.api.get(`${V3}/account/whoami`));

      const done = ok(await rae.api.post(`${V3}/account/deactivate`, { auth: { type: 'm.login.password', user: rae.userId, password: 'rae-pw', session: challenge.body.session } }));
      expect(done.id_server_unbind_result).toBe('no-support');
      expectError(await rae.api.get(`${V3}/account/whoami`), 401, 'M_UNKNOWN_TOKEN');
      expectError(await login(rae.userId, 'rae-pw'), 403, ['M_FORBIDDEN', 'M_USER_DEACTIVATED']);
      expectError(await anon.get(`${V3}/profile/${enc(rae.userId)}`), 404, 'M_NOT_FOUND');
      const member = ok(await host.api.get(`${V3}/rooms/${enc(roomId)}/state/m.room.member/${enc(rae.userId)}`));
      expect(member.membership).toBe('leave');
      // The name stays taken.
      expectError(await anon.get(`${V3}/register/available?username=${enc(rae.userId.slice(1).split(':')[0]!)}`), 400, 'M_USER_IN_USE');
    });
  });

  describe('Synapse shared-secret registration', () => {
    const path = '/_synapse/admin/v1/register';
    const nonce = async () => ok(await anon.call('GET', path, { offSpec: true })).nonce as string;
    const register = (body: Record<string, unknown>) => anon.call('POST', path, { body, offSpec: true });

    it('registers a user with Synapse HMAC-SHA1 and a fresh nonce', async () => {
      const username = name('sam');
      const n = await nonce();
      expect(n).toMatch(/^[0-9a-f]{32}$/);
      const res = ok(await register({ nonce: n, username, password: 'sam-pw', displayname: 'Sam Sécurité', admin: false, mac: synapseMac(SHARED_SECRET, n, username, 'sam-pw', false) }));
      expect(res.user_id).toBe(`@${username}:localhost`);
      expect(res.home_server).toBe('localhost');
      expect(ok(await anon.as(res.access_token).get(`${V3}/account/whoami`)).user_id).toBe(res.user_id);
      expect(ok(await anon.get(`${V3}/profile/${enc(res.user_id)}/displayname`))).toEqual({ displayname: 'Sam Sécurité' });
      ok(await login(res.user_id, 'sam-pw'));
    });

    it('registers an admin, with a user_type covered by the MAC', async () => {
      const username = name('tia');
      const n = await nonce();
      const res = ok(await register({ nonce: n, username, password: 'pw', admin: true, user_type: 'support', mac: synapseMac(SHARED_SECRET, n, username, 'pw', true, 'support') }));
      expect((await server.services.accounts.getUser(res.user_id))?.admin).toBe(true);
      // The same body signed without the user type does not pass.
      const n2 = await nonce();
      const uma = name('uma');
      expectError(await register({ nonce: n2, username: uma, password: 'pw', user_type: 'support', mac: synapseMac(SHARED_SECRET, n2, uma, 'pw', false) }), 403, 'M_FORBIDDEN');
    });

    it('refuses a wrong MAC, a forged admin flag, a replayed or unknown nonce', async () => {
      const username = name('vic');
      let n = await nonce();
      expectError(await register({ nonce: n, username, password: 'pw', mac: synapseMac('wrong-secret', n, username, 'pw', false) }), 403, 'M_FORBIDDEN');
      n = await nonce();
      // A MAC for a non-admin does not make an admin.
      expectError(await register({ nonce: n, username, password: 'pw', admin: true, mac: synapseMac(SHARED_SECRET, n, username, 'pw', false) }), 403, 'M_FORBIDDEN');
      n = await nonce();
      const mac = synapseMac(SHARED_SECRET, n, username, 'pw', false);
      ok(await register({ nonce: n, username, password: 'pw', mac }));
      expectError(await register({ nonce: n, username: name('wes'), password: 'pw', mac }), 400, 'M_UNKNOWN');
      expectError(await register({ nonce: 'deadbeef', username: name('xia'), password: 'pw', mac }), 400, 'M_UNKNOWN');
      // A taken name, with a valid MAC.
      n = await nonce();
      expectError(await register({ nonce: n, username, password: 'pw', mac: synapseMac(SHARED_SECRET, n, username, 'pw', false) }), 400, 'M_USER_IN_USE');
      n = await nonce();
      expectError(await register({ nonce: n, username: 'Bad Name', password: 'pw', mac: synapseMac(SHARED_SECRET, n, 'Bad Name', 'pw', false) }), 400, 'M_INVALID_USERNAME');
    });
  });
});
