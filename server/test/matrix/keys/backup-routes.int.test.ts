// Server-side key backup against the spec's schemas: versions, the three levels of keys,
// the spec's rule for which key of a session is kept, etag and count, and other users'
// backups out of reach.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyBackupRoutes } from '../../../src/matrix/keys/backup-routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, expectError, ok, registerSpecUser, type SpecUser } from '../../support/spec-client.ts';

const ALGORITHM = 'm.megolm_backup.v1.curve25519-aes-sha2';
const authData = (n: number) => ({ public_key: `cHVibGljLWtleS0${n}`, signatures: {} });
const key = (first: number, forwarded: number, verified: boolean, tag: string) => ({
  first_message_index: first,
  forwarded_count: forwarded,
  is_verified: verified,
  session_data: { ephemeral: 'ZXBo', ciphertext: tag, mac: 'bWFj' },
});

describe('key backup routes', () => {
  let server: TestServer;
  const log = new CallLog();
  let alice: SpecUser;
  let bob: SpecUser;
  const room = '!room1:localhost';
  const room2 = '!room2:localhost';

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = await Promise.all([registerSpecUser(server.url, log), registerSpecUser(server.url, log)]);
  });

  afterAll(async () => {
    log.expectRoutesCovered(keyBackupRoutes(server.services));
    await closeAllTestServers();
  });

  const keysPath = (version: string, roomId?: string, sessionId?: string) =>
    `${V3}/room_keys/keys${roomId ? `/${enc(roomId)}` : ''}${sessionId ? `/${enc(sessionId)}` : ''}?version=${enc(version)}`;

  it('answers 404 M_NOT_FOUND while there is no backup', async () => {
    expectError(await alice.api.get(`${V3}/room_keys/version`), 404, 'M_NOT_FOUND');
    expectError(await alice.api.get(`${V3}/room_keys/version/1`), 404, 'M_NOT_FOUND');
    expectError(await alice.api.get(keysPath('1')), 404, 'M_NOT_FOUND');
    expectError(await alice.api.put(keysPath('1', room, 's'), key(0, 0, false, 'x')), 404, 'M_NOT_FOUND');
  });

  it('creates, reads, updates and deletes versions; the latest live one is current', async () => {
    const v1 = ok(await alice.api.post(`${V3}/room_keys/version`, { algorithm: ALGORITHM, auth_data: authData(1) })).version as string;
    expect(ok(await alice.api.get(`${V3}/room_keys/version`))).toEqual({ algorithm: ALGORITHM, auth_data: authData(1), count: 0, etag: '0', version: v1 });
    const v2 = ok(await alice.api.post(`${V3}/room_keys/version`, { algorithm: ALGORITHM, auth_data: authData(2) })).version as string;
    expect(Number(v2)).toBeGreaterThan(Number(v1));
    expect(ok(await alice.api.get(`${V3}/room_keys/version`)).version).toBe(v2);
    expect(ok(await alice.api.get(`${V3}/room_keys/version/${v1}`)).auth_data).toEqual(authData(1));

    ok(await alice.api.put(`${V3}/room_keys/version/${v2}`, { algorithm: ALGORITHM, auth_data: authData(3), version: v2 }));
    expect(ok(await alice.api.get(`${V3}/room_keys/version/${v2}`)).auth_data).toEqual(authData(3));
    expectError(await alice.api.put(`${V3}/room_keys/version/${v2}`, { algorithm: 'other', auth_data: {} }), 400, 'M_INVALID_PARAM');
    expectError(await alice.api.put(`${V3}/room_keys/version/${v2}`, { algorithm: ALGORITHM, auth_data: {}, version: v1 }), 400, 'M_INVALID_PARAM');
    expectError(await alice.api.put(`${V3}/room_keys/version/999`, { algorithm: ALGORITHM, auth_data: {} }), 404, 'M_NOT_FOUND');
    expectError(await alice.api.post(`${V3}/room_keys/version`, { algorithm: ALGORITHM }), 400, 'M_BAD_JSON');

    ok(await alice.api.delete(`${V3}/room_keys/version/${v2}`));
    expectError(await alice.api.get(`${V3}/room_keys/version/${v2}`), 404, 'M_NOT_FOUND');
    expectError(await alice.api.delete(`${V3}/room_keys/version/${v2}`), 404, 'M_NOT_FOUND');
    // The older one is current again; a new one never reuses a deleted number.
    expect(ok(await alice.api.get(`${V3}/room_keys/version`)).version).toBe(v1);
    const v3 = ok(await alice.api.post(`${V3}/room_keys/version`, { algorithm: ALGORITHM, auth_data: authData(4) })).version as string;
    expect(Number(v3)).toBeGreaterThan(Number(v2));
    for (const bad of ['abc', '-1', '1.5', '99999999999999999999']) expectError(await alice.api.get(`${V3}/room_keys/version/${enc(bad)}`), 404, 'M_NOT_FOUND');
  });

  it('stores keys at every level and keeps the better key of a session, by the spec’s rule', async () => {
    const version = ok(await alice.api.get(`${V3}/room_keys/version`)).version as string;
    const put1 = ok(await alice.api.put(keysPath(version), { rooms: { [room]: { sessions: { s1: key(5, 1, false, 'a'), s2: key(0, 0, false, 'b') } } } }));
    expect(put1.count).toBe(2);
    const put2 = ok(await alice.api.put(keysPath(version, room2), { sessions: { s3: key(0, 0, true, 'c') } }));
    expect(put2.count).toBe(3);
    expect(put2.etag).not.toBe(put1.etag);
    ok(await alice.api.put(keysPath(version, room2, 's4'), key(0, 0, false, 'd')));

    const all = ok(await alice.api.get(keysPath(version)));
    expect(Object.keys(all.rooms).sort()).toEqual([room, room2]);
    expect(all.rooms[room].sessions.s1).toEqual(key(5, 1, false, 'a'));
    expect(ok(await alice.api.get(keysPath(version, room2))).sessions).toEqual({ s3: key(0, 0, true, 'c'), s4: key(0, 0, false, 'd') });
    expect(ok(await alice.api.get(keysPath(version, room, 's2')))).toEqual(key(0, 0, false, 'b'));
    expect(ok(await alice.api.get(keysPath(version, '!empty:localhost'))).sessions).toEqual({});
    expectError(await alice.api.get(keysPath(version, room, 'nope')), 404, 'M_NOT_FOUND');

    const s1 = async () => ok(await alice.api.get(keysPath(version, room, 's1'))).session_data.ciphertext;
    const etag = async () => ok(await alice.api.get(`${V3}/room_keys/version`)).etag as string;
    // Verified beats unverified, whatever the index.
    ok(await alice.api.put(keysPath(version, room, 's1'), key(9, 9, true, 'verified')));
    expect(await s1()).toBe('verified');
    ok(await alice.api.put(keysPath(version, room, 's1'), key(0, 0, false, 'unverified-lower')));
    expect(await s1()).toBe('verified');
    // Same verification: the lower first message index wins, then the lower forwarded count.
    ok(await alice.api.put(keysPath(version, room, 's1'), key(3, 9, true, 'lower-index')));
    expect(await s1()).toBe('lower-index');
    const e = await etag();
    ok(await alice.api.put(keysPath(version, room, 's1'), key(4, 0, true, 'higher-index')));
    expect(await s1()).toBe('lower-index');
    // A key that is kept out changes nothing, not even the etag.
    expect(await etag()).toBe(e);
    ok(await alice.api.put(keysPath(version, room, 's1'), key(3, 2, true, 'less-forwarded')));
    expect(await s1()).toBe('less-forwarded');
    ok(await alice.api.put(keysPath(version, room, 's1'), key(3, 2, true, 'same')));
    expect(await s1()).toBe('less-forwarded');
    expect(ok(await alice.api.get(`${V3}/room_keys/version`)).count).toBe(4);
  });

  it('deletes keys by session, room and all, with etag and count', async () => {
    const version = ok(await alice.api.get(`${V3}/room_keys/version`)).version as string;
    const d1 = ok(await alice.api.delete(keysPath(version, room, 's2')));
    expect(d1.count).toBe(3);
    const d2 = ok(await alice.api.delete(keysPath(version, room2)));
    expect(d2.count).toBe(1);
    expect(d2.etag).not.toBe(d1.etag);
    const d3 = ok(await alice.api.delete(keysPath(version)));
    expect(d3.count).toBe(0);
    expect(ok(await alice.api.get(keysPath(version))).rooms).toEqual({});
  });

  it('refuses writes to a version that is not the current one, naming the current one', async () => {
    const current = ok(await alice.api.get(`${V3}/room_keys/version`)).version as string;
    const res = await alice.api.put(keysPath('1', room, 's1'), key(0, 0, false, 'old'));
    expectError(res, 403, 'M_WRONG_ROOM_KEYS_VERSION');
    expect(res.body.current_version).toBe(current);
    expectError(await alice.api.get(`${V3}/room_keys/keys`), 400, 'M_MISSING_PARAM');
  });

  it('keeps each user’s backup to that user, and refuses malformed keys', async () => {
    const version = ok(await alice.api.get(`${V3}/room_keys/version`)).version as string;
    ok(await alice.api.put(keysPath(version, room, 'mine'), key(0, 0, false, 'alice-secret')));
    // Bob has no backup: Alice's version number names nothing of his.
    expectError(await bob.api.get(`${V3}/room_keys/version`), 404, 'M_NOT_FOUND');
    expectError(await bob.api.get(keysPath(version)), 404, 'M_NOT_FOUND');
    expectError(await bob.api.get(keysPath(version, room, 'mine')), 404, 'M_NOT_FOUND');
    expectError(await bob.api.delete(`${V3}/room_keys/version/${version}`), 404, 'M_NOT_FOUND');
    expectError(await bob.api.delete(keysPath(version)), 404, 'M_NOT_FOUND');
    const bobVersion = ok(await bob.api.post(`${V3}/room_keys/version`, { algorithm: ALGORITHM, auth_data: authData(9) })).version;
    expect(ok(await bob.api.get(keysPath(bobVersion))).rooms).toEqual({});
    expect(ok(await alice.api.get(keysPath(version, room, 'mine'))).session_data.ciphertext).toBe('alice-secret');

    for (const bad of [
      { ...key(0, 0, false, 'x'), first_message_index: -1 },
      { ...key(0, 0, false, 'x'), forwarded_count: 1.5 },
      { ...key(0, 0, false, 'x'), is_verified: 'yes' },
      { ...key(0, 0, false, 'x'), session_data: 'text' },
      { first_message_index: 0 },
    ]) {
      expectError(await alice.api.put(keysPath(version, room, 'bad'), bad), 400, 'M_BAD_JSON');
    }
    expectError(await alice.api.put(keysPath(version), { rooms: { 'not-a-room': { sessions: {} } } }), 400, 'M_INVALID_PARAM');
    expectError(await alice.api.put(keysPath(version, 'not-a-room'), { sessions: {} }), 400, 'M_INVALID_PARAM');
    expectError(await alice.api.get(keysPath(version, room, 'bad')), 404, 'M_NOT_FOUND');
  });
});
