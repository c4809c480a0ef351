import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppserviceStandIn } from '../../support/appservice-standin.ts';
import { Api, enc, registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const V1 = '/_tocsin/v1';
const C = '/_matrix/client/v3';

describe('the console audience picker: search and count', () => {
  let server: TestServer;
  let admin: TestUser;
  let sender: TestUser;
  let bob: TestUser;
  let zoe: TestUser;
  let nord: string;
  let secret: string;

  beforeAll(async () => {
    server = await startTestServer();
    admin = await registerAdmin(server.url, 'aud-admin');
    sender = await registerUser(server.url, 'aud-sender');
    bob = await registerUser(server.url, 'aud-bob');
    zoe = await registerUser(server.url, 'aud-zoe');
    await admin.api.put(`${V1}/admin/users/${enc(sender.userId)}/roles`, { roles: ['alert_sender'] });
    await bob.api.put(`${C}/profile/${enc(bob.userId)}/displayname`, { displayname: 'Bob Lefèvre' });
    expect((await admin.api.put(`${V1}/admin/groups/cellule-nord`, { display_name: 'Cellule de crise Nord', members: [bob.userId, zoe.userId] })).status).toBe(200);
    expect((await admin.api.put(`${V1}/admin/groups/astreinte_100`, { display_name: 'Astreinte 100%', members: [zoe.userId] })).status).toBe(200);
    nord = (await sender.api.post(`${C}/createRoom`, { preset: 'public_chat', name: 'Salle Nord' })).body.room_id;
    await bob.api.post(`${C}/rooms/${enc(nord)}/join`, {});
    secret = (await zoe.api.post(`${C}/createRoom`, { preset: 'public_chat', name: 'Salle Nord secrète' })).body.room_id;
  });
  afterAll(closeAllTestServers);

  const search = (u: TestUser, q: string) => u.api.get(`${V1}/audience/search?q=${enc(q)}`);

  it('finds users, groups and the sender’s own rooms by a few letters', async () => {
    const r = await search(sender, 'nord');
    expect(r.status).toBe(200);
    expect(r.body.results).toEqual([
      { id: 'group:cellule-nord', kind: 'group', name: 'Cellule de crise Nord', members: 2 },
      { id: nord, kind: 'room', name: 'Salle Nord', members: 2 },
    ]);
    // Zoe's room is not the sender's: an alert could not name it, the picker does not show it.
    expect(JSON.stringify(r.body)).not.toContain(secret);
    const byName = await search(sender, 'lefèvre');
    expect(byName.body.results).toEqual([{ id: bob.userId, kind: 'user', name: 'Bob Lefèvre' }]);
    const byId = await search(sender, 'aud-z');
    expect(byId.body.results.map((i: { id: string }) => i.id)).toEqual([zoe.userId]);
  });

  it('takes % and _ literally', async () => {
    expect((await search(sender, '%')).body.results.map((i: { id: string }) => i.id)).toEqual(['group:astreinte_100']);
    expect((await search(sender, 'e_1')).body.results.map((i: { id: string }) => i.id)).toEqual(['group:astreinte_100']);
    expect((await search(sender, 'zzz-nothing')).body.results).toEqual([]);
  });

  it('counts the people an audience reaches, each once', async () => {
    const r = await sender.api.post(`${V1}/audience/count`, { audience: ['group:cellule-nord', nord, bob.userId] });
    expect(r.status).toBe(200);
    // Bob and Zoe (group), the sender and Bob (room): three people.
    expect(r.body.recipients).toBe(3);
    expect((await sender.api.post(`${V1}/audience/count`, { audience: ['group:astreinte_100'] })).body.recipients).toBe(1);
  });

  it('is for alert senders and administrators only, and refuses bad input', async () => {
    expect((await search(bob, 'nord')).status).toBe(403);
    expect((await bob.api.post(`${V1}/audience/count`, { audience: ['group:cellule-nord'] })).body.errcode).toBe('M_FORBIDDEN');
    expect((await search(admin, 'aud-bob')).body.results.map((i: { id: string }) => i.id)).toEqual([bob.userId]);
    expect((await sender.api.get(`${V1}/audience/search?q=${'x'.repeat(101)}`)).body.errcode).toBe('M_INVALID_PARAM');
    expect((await sender.api.get(`${V1}/audience/search?limit=abc`)).body.errcode).toBe('M_INVALID_PARAM');
    expect((await sender.api.post(`${V1}/audience/count`, { audience: ['group:nope'] })).body.errcode).toBe('M_INVALID_PARAM');
    expect((await sender.api.post(`${V1}/audience/count`, { audience: ['everyone'] })).body.errcode).toBe('M_INVALID_PARAM');
    expect((await sender.api.post(`${V1}/audience/count`, { audience: [] })).body.errcode).toBe('M_BAD_JSON');
    const other = await sender.api.post(`${V1}/audience/count`, { audience: [secret] });
    expect(other.status).toBe(403);
    expect((await sender.api.as(undefined).get(`${V1}/audience/search?q=a`)).body.errcode).toBe('M_MISSING_TOKEN');
    // Hostile search text: a Matrix error or an empty answer, never a 500.
    for (const q of ['a%00b', '%ED%A0%80', enc(`' OR '1'='1`), enc('\\'), enc('<script>')]) {
      const r = await sender.api.get(`${V1}/audience/search?q=${q}`);
      expect([200, 400], q).toContain(r.status);
      if (r.status === 200) expect(r.body.results, q).toEqual([]);
    }
    const nul = await sender.api.post(`${V1}/audience/count`, { audience: ['group:a\u0000b', '@a\u0000:localhost'] });
    expect(nul.status).toBe(400);
  });
});

describe('the audience picker and bridges', () => {
  let server: TestServer;
  let bridge: AppserviceStandIn;
  let admin: TestUser;

  beforeAll(async () => {
    bridge = await AppserviceStandIn.start('hs-wa-0123456789');
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-aud-as-'));
    const file = path.join(dir, 'wa.yaml');
    writeFileSync(
      file,
      [
        'id: wa',
        `url: ${bridge.url}`,
        'as_token: as-wa-0123456789',
        'hs_token: hs-wa-0123456789',
        'sender_localpart: wabot',
        'rate_limited: false',
        'namespaces:',
        '  users: [{ exclusive: true, regex: "@wa_.*:localhost" }]',
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(dir, 'tocsin.yaml'), `app_service_config_files: [${JSON.stringify(file)}]\n`);
    server = await startTestServer({ TOCSIN_CONFIG: path.join(dir, 'tocsin.yaml') });
    admin = await registerAdmin(server.url, 'aud-as-admin');
    const as = new Api(server.url, 'as-wa-0123456789');
    expect((await as.post(`${C}/register`, { type: 'm.login.application_service', username: 'wa_walter', inhibit_login: true })).status).toBe(200);
    await registerUser(server.url, 'walter-real');
  });
  afterAll(async () => {
    await closeAllTestServers();
    await bridge.close();
  });

  it('does not offer a bridge’s ghosts nor its bot as alert recipients', async () => {
    const r = await admin.api.get(`${V1}/audience/search?q=wa`);
    expect(r.status).toBe(200);
    const ids = r.body.results.map((i: { id: string }) => i.id);
    expect(ids).toContain('@walter-real:localhost');
    expect(ids).not.toContain('@wa_walter:localhost');
    expect(ids).not.toContain('@wabot:localhost');
  });
});
