// Devices: list, read, rename, delete one or many (UIA m.login.password); nobody reaches
// another user's devices.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceRoutes } from '../../../src/matrix/devices/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, V3, expectError, ok, registerSpecUser, type SpecUser } from '../../support/spec-client.ts';

describe('device routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let anon: SpecApi;
  let ana: SpecUser;
  let ben: SpecUser;

  beforeAll(async () => {
    server = await startTestServer();
    anon = new SpecApi(server.url, undefined, log);
    ana = await registerSpecUser(server.url, log, undefined, 'ana-pw');
    ben = await registerSpecUser(server.url, log, undefined, 'ben-pw');
  });

  afterAll(async () => {
    log.expectRoutesCovered(deviceRoutes(server.services));
    await closeAllTestServers();
  });

  async function newDevice(user: SpecUser, password: string, deviceId?: string, name?: string): Promise<{ token: string; deviceId: string; api: SpecApi }> {
    const res = ok(
      await anon.post(`${V3}/login`, {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: user.userId },
        password,
        ...(deviceId ? { device_id: deviceId } : {}),
        ...(name ? { initial_device_display_name: name } : {}),
      }),
    );
    return { token: res.access_token, deviceId: res.device_id, api: anon.as(res.access_token) };
  }

  const password = (user: SpecUser, pw: string, session?: string) => ({ type: 'm.login.password', identifier: { type: 'm.id.user', user: user.userId }, password: pw, ...(session ? { session } : {}) });

  it('lists, reads and renames own devices', async () => {
    const phone = await newDevice(ana, 'ana-pw', 'ANAPHONE', 'Téléphone');
    const list = ok(await ana.api.get(`${V3}/devices`)).devices as Array<{ device_id: string; display_name?: string }>;
    expect(list.map((d) => d.device_id).sort()).toEqual([ana.deviceId, 'ANAPHONE'].sort());
    expect(ok(await ana.api.get(`${V3}/devices/ANAPHONE`))).toMatchObject({ device_id: 'ANAPHONE', display_name: 'Téléphone' });
    ok(await phone.api.put(`${V3}/devices/ANAPHONE`, { display_name: 'Téléphone de garde' }));
    expect(ok(await ana.api.get(`${V3}/devices/ANAPHONE`)).display_name).toBe('Téléphone de garde');
    // An empty body changes nothing and is fine.
    ok(await ana.api.put(`${V3}/devices/ANAPHONE`, {}));
    expect(ok(await ana.api.get(`${V3}/devices/ANAPHONE`)).display_name).toBe('Téléphone de garde');
  });

  it('answers 404 for unknown devices and for the devices of others', async () => {
    for (const id of ['NOPE', ben.deviceId, `' OR '1'='1`, '../devices', '%']) {
      expectError(await ana.api.get(`${V3}/devices/${enc(id)}`), 404, 'M_NOT_FOUND');
      expectError(await ana.api.put(`${V3}/devices/${enc(id)}`, { display_name: 'mine now' }), 404, 'M_NOT_FOUND');
      expectError(await ana.api.put(`${V3}/devices/${enc(id)}`, {}), 404, 'M_NOT_FOUND');
      expectError(await ana.api.delete(`${V3}/devices/${enc(id)}`, { auth: password(ana, 'ana-pw') }), 404, 'M_NOT_FOUND');
    }
    // Ben's device kept its name and its token.
    expect(ok(await ben.api.get(`${V3}/devices/${enc(ben.deviceId)}`)).display_name).not.toBe('mine now');
    ok(await ben.api.get(`${V3}/account/whoami`));
  });

  it('deletes a device only after UIA; its token dies with it', async () => {
    const tablet = await newDevice(ana, 'ana-pw', 'ANATABLET');
    const challenge = await ana.api.delete(`${V3}/devices/ANATABLET`, {});
    expect(challenge.status).toBe(401);
    expect(challenge.body.flows).toEqual([{ stages: ['m.login.password'] }]);
    const wrong = await ana.api.delete(`${V3}/devices/ANATABLET`, { auth: password(ana, 'bad', challenge.body.session) });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errcode).toBe('M_FORBIDDEN');
    // Ben's password does not delete Ana's device.
    const ben401 = await ana.api.delete(`${V3}/devices/ANATABLET`, { auth: password(ben, 'ben-pw', challenge.body.session) });
    expect(ben401.status).toBe(401);
    ok(await tablet.api.get(`${V3}/account/whoami`));
    // A session opened to delete another device does not delete this one.
    const otherChallenge = await ana.api.delete(`${V3}/devices/ANAPHONE`, {});
    expect([400, 401]).toContain((await ana.api.delete(`${V3}/devices/ANATABLET`, { auth: password(ana, 'bad', otherChallenge.body.session) })).status);

    ok(await ana.api.delete(`${V3}/devices/ANATABLET`, { auth: password(ana, 'ana-pw', challenge.body.session) }));
    expectError(await tablet.api.get(`${V3}/account/whoami`), 401, 'M_UNKNOWN_TOKEN');
    expectError(await ana.api.get(`${V3}/devices/ANATABLET`), 404, 'M_NOT_FOUND');
  });

  it('deletes several devices with /delete_devices after UIA, and never those of others', async () => {
    const a = await newDevice(ana, 'ana-pw', 'ANAA');
    const b = await newDevice(ana, 'ana-pw', 'ANAB');
    const challenge = await ana.api.post(`${V3}/delete_devices`, { devices: ['ANAA', 'ANAB', ben.deviceId] });
    expect(challenge.status).toBe(401);
    expect(challenge.body.flows).toEqual([{ stages: ['m.login.password'] }]);
    // The session is bound to the set of devices: it cannot delete a different set.
    const other = await ana.api.post(`${V3}/delete_devices`, { devices: ['ANAA'], auth: password(ana, 'ana-pw', challenge.body.session) });
    expect(other.status).not.toBe(200);
    ok(await a.api.get(`${V3}/account/whoami`));

    const fresh = await ana.api.post(`${V3}/delete_devices`, { devices: ['ANAA', 'ANAB', ben.deviceId] });
    ok(await ana.api.post(`${V3}/delete_devices`, { devices: ['ANAA', 'ANAB', ben.deviceId], auth: password(ana, 'ana-pw', fresh.body.session) }));
    expectError(await a.api.get(`${V3}/account/whoami`), 401, 'M_UNKNOWN_TOKEN');
    expectError(await b.api.get(`${V3}/account/whoami`), 401, 'M_UNKNOWN_TOKEN');
    ok(await ben.api.get(`${V3}/account/whoami`));
    ok(await ben.api.get(`${V3}/devices/${enc(ben.deviceId)}`));
    ok(await ana.api.get(`${V3}/account/whoami`));
    // Unknown ids are ignored; an empty list is fine.
    const s = await ana.api.post(`${V3}/delete_devices`, { devices: [] });
    ok(await ana.api.post(`${V3}/delete_devices`, { devices: [], auth: password(ana, 'ana-pw', s.body.session) }));
  });

  it('validates bodies', async () => {
    expectError(await ana.api.put(`${V3}/devices/${enc(ana.deviceId)}`, { display_name: 42 }), 400, 'M_BAD_JSON');
    expectError(await ana.api.post(`${V3}/delete_devices`, {}), 400, 'M_BAD_JSON');
    expectError(await ana.api.post(`${V3}/delete_devices`, { devices: 'ANAA' }), 400, 'M_BAD_JSON');
  });
});
