import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc, registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const V1 = '/_tocsin/v1';

describe('GET /_tocsin/v1/me/alerting (what the crisis console needs)', () => {
  let server: TestServer;
  let admin: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'alerting-admin');
    bob = await registerUser(server.url, 'alerting-bob');
  });
  afterAll(closeAllTestServers);

  it('says who may send, with the default plan and the channels in service', async () => {
    const mine = await admin.api.get(`${V1}/me/alerting`);
    expect(mine.status).toBe(200);
    expect(mine.body).toEqual({
      can_send: true,
      default_escalation: [
        { after_s: 0, channels: ['matrix', 'webpush'] },
        { after_s: 60, channels: ['sms'] },
        { after_s: 300, channels: ['email', 'sms'] },
      ],
      channels: expect.arrayContaining(['matrix']),
    });
    expect((await bob.api.get(`${V1}/me/alerting`)).body.can_send).toBe(false);
    await admin.api.put(`${V1}/admin/users/${enc(bob.userId)}/roles`, { roles: ['alert_sender'] });
    expect((await bob.api.get(`${V1}/me/alerting`)).body.can_send).toBe(true);
  });

  it('needs a valid token', async () => {
    expect((await bob.api.as(undefined).get(`${V1}/me/alerting`)).body.errcode).toBe('M_MISSING_TOKEN');
    expect((await bob.api.as('forged').get(`${V1}/me/alerting`)).body.errcode).toBe('M_UNKNOWN_TOKEN');
  });
});
