// SCIM 2.0 as Entra ID and Okta speak it: the request sequences they send to create, update,
// disable, re-enable and delete people, and to manage groups (alert audiences).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, registerAdmin, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

const TOKEN = 'scim-test-token-0123456789abcdef';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

describe('SCIM 2.0', () => {
  let server: TestServer;
  let scim: Api;
  let admin: TestUser;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-scim-'));
    writeFileSync(path.join(dir, 'scim-token'), `${TOKEN}\n`);
    writeFileSync(path.join(dir, 'tocsin.yaml'), `directory:\n  scim: { token_file: ${path.join(dir, 'scim-token')} }\n  rooms: { Cellule_crise: ["#cellule:localhost"] }\n`);
    server = await startTestServer({ TOCSIN_CONFIG: path.join(dir, 'tocsin.yaml') });
    scim = new Api(`${server.url}/_tocsin/scim/v2`, TOKEN);
    admin = await registerAdmin(server.url, 'dsi');
    await admin.api.post('/_matrix/client/v3/createRoom', { preset: 'private_chat', room_alias_name: 'cellule' });
  }, 60_000);
  afterAll(closeAllTestServers);

  const user = (id: string) => server.services.accounts.getUser(id);

  it('needs the bearer token, and answers SCIM errors', async () => {
    for (const token of [undefined, 'wrong', `${TOKEN}x`]) {
      const res = await new Api(`${server.url}/_tocsin/scim/v2`, token).get('/Users');
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/application\/scim\+json/);
      expect(res.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
    }
    // A Matrix access token is not a SCIM token.
    expect((await new Api(`${server.url}/_tocsin/scim/v2`, admin.token).get('/Users')).status).toBe(401);
    const badFilter = await scim.get(`/Users?filter=${encodeURIComponent('userName co "a"')}`);
    expect(badFilter.status).toBe(400);
    expect(badFilter.body.scimType).toBe('invalidFilter');
    expect((await scim.get('/Users/nope')).status).toBe(404);
    expect((await scim.post('/Users', { schemas: [USER] })).body.scimType).toBe('invalidValue');
    expect((await scim.post('/Users', { userName: 'Robert"); DROP TABLE users;--' })).status).toBe(400);
    expect((await scim.request('PATCH', '/Users/nope', { Operations: [] })).status).toBe(404);
  });

  it('publishes ServiceProviderConfig, Schemas and ResourceTypes', async () => {
    const spc = await scim.get('/ServiceProviderConfig');
    expect(spc.body).toMatchObject({ patch: { supported: true }, filter: { supported: true }, bulk: { supported: false } });
    const types = await scim.get('/ResourceTypes');
    expect(types.body.Resources.map((r: { id: string }) => r.id)).toEqual(['User', 'Group']);
    const schemas = await scim.get('/Schemas');
    expect(schemas.body.Resources.map((r: { id: string }) => r.id)).toEqual([USER, 'urn:ietf:params:scim:schemas:core:2.0:Group']);
  });

  it('Entra ID: create, update, disable with active "False", re-enable, delete', async () => {
    const probe = await scim.get(`/Users?filter=${encodeURIComponent('userName eq "alice@contoso.com"')}`);
    expect(probe.body).toMatchObject({ totalResults: 0, Resources: [] });
    const created = await scim.post('/Users', {
      schemas: [USER, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
      externalId: 'a1b2c3',
      userName: 'alice@contoso.com',
      active: true,
      displayName: 'Alice Martin',
      emails: [{ primary: true, type: 'work', value: 'alice@contoso.com' }],
      name: { formatted: 'Alice Martin', familyName: 'Martin', givenName: 'Alice' },
      phoneNumbers: [{ type: 'mobile', value: '+33 6 12 34 56 78' }],
      title: 'Cheffe de cellule',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ userName: 'alice', externalId: 'a1b2c3', active: true, displayName: 'Alice Martin', phoneNumbers: [{ value: '+33612345678' }] });
    const id = created.body.id as string;
    expect((await user('@alice:localhost'))?.displayname).toBe('Alice Martin');
    expect((await scim.get(`/Users?filter=${encodeURIComponent('userName eq "alice@contoso.com"')}`)).body.totalResults).toBe(1);
    expect((await scim.get(`/Users?filter=${encodeURIComponent('externalId eq "a1b2c3"')}`)).body.Resources[0].id).toBe(id);
    expect((await scim.post('/Users', { userName: 'alice@contoso.com' })).status).toBe(409);

    const updated = await scim.request('PATCH', `/Users/${id}`, {
      schemas: [PATCH],
      Operations: [
        { op: 'Replace', path: 'displayName', value: 'Alice Durand' },
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'alice.durand@contoso.com' },
        { op: 'Add', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department', value: 'DSI' },
      ],
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ displayName: 'Alice Durand', emails: [{ value: 'alice.durand@contoso.com' }] });
    expect((await user('@alice:localhost'))?.displayname).toBe('Alice Durand');

    const session = await server.services.accounts.startSession('@alice:localhost', 'PHONE', undefined);
    const disabled = await scim.request('PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(disabled.body.active).toBe(false);
    expect(await user('@alice:localhost')).toMatchObject({ suspended: true, deactivated: false });
    expect((await new Api(server.url, session.access_token).get('/_matrix/client/v3/account/whoami')).body).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN', soft_logout: false });

    const enabled = await scim.request('PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'True' }] });
    expect(enabled.body.active).toBe(true);
    expect(await user('@alice:localhost')).toMatchObject({ suspended: false });

    const deleted = await scim.delete(`/Users/${id}`);
    expect(deleted.status).toBe(204);
    expect((await scim.get(`/Users/${id}`)).status).toBe(404);
    expect((await user('@alice:localhost'))?.deactivated).toBe(true);

    // Assigned to the application again: the same account comes back.
    const again = await scim.post('/Users', { schemas: [USER], userName: 'alice@contoso.com', active: true, displayName: 'Alice Durand' });
    expect(again.status).toBe(201);
    expect(await user('@alice:localhost')).toMatchObject({ deactivated: false, suspended: false });
  });

  it('Okta: create, PUT, deactivate with a value object, groups as alert audiences with rooms', async () => {
    const created = await scim.post('/Users', {
      schemas: [USER],
      userName: 'bob@example.org',
      name: { givenName: 'Bob', familyName: 'Bernard' },
      emails: [{ primary: true, value: 'bob@example.org', type: 'work' }],
      displayName: 'Bob Bernard',
      locale: 'fr-FR',
      externalId: '00u1abcd',
      groups: [],
      password: 'ignored-by-tocsin',
      active: true,
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const put = await scim.put(`/Users/${id}`, { ...created.body, name: { givenName: 'Bob', familyName: 'Leroy' }, displayName: 'Bob Leroy', phoneNumbers: [{ value: '+33611111111', type: 'mobile' }] });
    expect(put.body).toMatchObject({ displayName: 'Bob Leroy', phoneNumbers: [{ value: '+33611111111' }] });

    const group = await scim.post('/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Cellule crise', members: [] });
    expect(group.status).toBe(201);
    const gid = group.body.id as string;
    const added = await scim.request('PATCH', `/Groups/${gid}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: id, display: 'bob@example.org' }] }] });
    expect(added.body.members).toEqual([expect.objectContaining({ value: id, display: '@bob:localhost' })]);
    expect((await admin.api.post('/_tocsin/v1/alerts', { severity: 'info', title: 'T', body: 'T', audience: ['group:Cellule_crise'] })).body.recipients).toBe(1);
    const roomId = (await admin.api.get(`/_matrix/client/v3/directory/room/${encodeURIComponent('#cellule:localhost')}`)).body.room_id;
    const member = async () => (await server.services.db('memberships').where({ room_id: roomId, user_id: '@bob:localhost' }).first('membership'))?.membership;
    expect(await member()).toBe('join');
    expect((await scim.get(`/Groups?filter=${encodeURIComponent('displayName eq "Cellule crise"')}`)).body.totalResults).toBe(1);

    const off = await scim.request('PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(off.body.active).toBe(false);
    const refused = await admin.api.post('/_tocsin/v1/alerts', { severity: 'critical', title: 'T', body: 'T', audience: ['group:Cellule_crise'] });
    expect(refused.status).toBe(400); // a suspended person gets no alerts: the group is empty for now
    expect(await member()).toBe('join'); // memberships kept while suspended

    const removed = await scim.request('PATCH', `/Groups/${gid}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }] });
    expect(removed.body.members).toEqual([]);
    expect(await member()).toBe('leave');
    expect((await scim.delete(`/Groups/${gid}`)).status).toBe(204);
    expect((await scim.get(`/Groups/${gid}`)).status).toBe(404);
  });
});
