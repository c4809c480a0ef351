// The E2EE key routes and send-to-device, against the spec's schemas: uploads, queries,
// claims, device lists and to-device messages in /sync, cross-signing, and what a hostile
// client may try (other users' devices, forged or malformed keys, replays, huge bodies).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysRoutes } from '../../../src/matrix/keys/routes.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, V3, createRoom, expectError, invite, join, ok, registerSpecUser, sync, txn, type SpecUser } from '../../support/spec-client.ts';
import { crossSigning, deviceKeys, ed25519, oneTimeKeys, signed, type Json } from './key-fixtures.ts';

describe('E2EE key routes and send-to-device', () => {
  let server: TestServer;
  const log = new CallLog();
  let alice: SpecUser;
  let bob: SpecUser;
  let eve: SpecUser;
  let roomId: string;
  let aliceKeys: ReturnType<typeof deviceKeys>;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob, eve] = await Promise.all([registerSpecUser(server.url, log), registerSpecUser(server.url, log), registerSpecUser(server.url, log)]);
    roomId = await createRoom(alice.api, { initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }] });
    await invite(alice.api, roomId, bob.userId);
    await join(bob.api, roomId);
    aliceKeys = deviceKeys(alice.userId, alice.deviceId);
  });

  afterAll(async () => {
    log.expectRoutesCovered(keysRoutes(server.services));
    await closeAllTestServers();
  });

  const upload = (u: SpecUser, body: Json) => u.api.post(`${V3}/keys/upload`, body);
  const query = (u: SpecUser, deviceKeysWanted: Json) => u.api.post(`${V3}/keys/query`, { device_keys: deviceKeysWanted });
  const claim = (u: SpecUser, wanted: Json) => u.api.post(`${V3}/keys/claim`, { one_time_keys: wanted });

  it('stores device, one-time and fallback keys and counts them, in the answer and in /sync', async () => {
    const res = ok(
      await upload(alice, {
        device_keys: aliceKeys.keys,
        one_time_keys: oneTimeKeys(alice.userId, aliceKeys.key, 5),
        fallback_keys: { 'signed_curve25519:fb1': { ...signed({ key: 'ZmFsbGJhY2s', fallback: true }, alice.userId, aliceKeys.key) } },
      }),
    );
    expect(res.one_time_key_counts).toEqual({ signed_curve25519: 5 });
    // The same upload again (a retry) changes nothing.
    expect(ok(await upload(alice, { one_time_keys: {} })).one_time_key_counts).toEqual({ signed_curve25519: 5 });
    const s = await sync(alice.api);
    expect(s.device_one_time_keys_count).toEqual({ signed_curve25519: 5 });
    expect(s.device_unused_fallback_key_types).toEqual(['signed_curve25519']);
    const q = ok(await query(bob, { [alice.userId]: [] }));
    expect(q.device_keys[alice.userId][alice.deviceId].keys).toEqual(aliceKeys.keys.keys);
    expect(q.device_keys[alice.userId][alice.deviceId].signatures).toEqual(aliceKeys.keys.signatures);
    expect(q.failures).toEqual({});
  });

  it('refuses keys for another user or device, forged or malformed keys, and key floods', async () => {
    const forBob = deviceKeys(bob.userId, bob.deviceId);
    expectError(await upload(alice, { device_keys: forBob.keys }), 400, 'M_INVALID_PARAM');
    const otherDevice = deviceKeys(alice.userId, 'OTHERDEVICE');
    expectError(await upload(alice, { device_keys: otherDevice.keys }), 400, 'M_INVALID_PARAM');
    // Signed by a key other than the one it publishes.
    const forged = { ...deviceKeys(alice.userId, alice.deviceId).keys, keys: { [`ed25519:${alice.deviceId}`]: ed25519(() => 'ed25519:x').pub } };
    expectError(await upload(alice, { device_keys: forged }), 400, 'M_INVALID_SIGNATURE');
    const unsigned = { ...aliceKeys.keys, signatures: {} };
    expectError(await upload(alice, { device_keys: unsigned }), 400, 'M_INVALID_SIGNATURE');
    const noEd = { ...aliceKeys.keys, keys: {} };
    expectError(await upload(alice, { device_keys: noEd }), 400, 'M_INVALID_PARAM');
    expectError(await upload(alice, { device_keys: { ...aliceKeys.keys, float: 1.5 } }), 400, 'M_INVALID_PARAM');
    for (const badId of ['nocolon', ':x', 'alg:', 'a'.repeat(300) + ':x']) {
      expectError(await upload(alice, { one_time_keys: { [badId]: 'k' } }), 400, ['M_INVALID_PARAM', 'M_BAD_JSON']);
    }
    expectError(await upload(alice, { one_time_keys: { 'signed_curve25519:x': { nokey: true } } }), 400, ['M_INVALID_PARAM', 'M_BAD_JSON']);
    expectError(await upload(alice, { one_time_keys: { 'signed_curve25519:x': 42 } }), 400, 'M_BAD_JSON');
    expectError(await upload(alice, { one_time_keys: oneTimeKeys(alice.userId, aliceKeys.key, 1001, 'flood') }), 400, 'M_INVALID_PARAM');
    // A key ID already used, with another key.
    expectError(await upload(alice, { one_time_keys: { 'signed_curve25519:k0': 'YW5vdGhlcg' } }), 400, 'M_INVALID_PARAM');
    expectError(await upload(alice, { fallback_keys: { 'signed_curve25519:a': 'YQ', 'signed_curve25519:b': 'Yg' } }), 400, 'M_INVALID_PARAM');
    // Nothing of it was stored.
    expect(ok(await upload(alice, {})).one_time_key_counts).toEqual({ signed_curve25519: 5 });
    const q = ok(await query(bob, { [alice.userId]: [] }));
    expect(Object.keys(q.device_keys[alice.userId])).toEqual([alice.deviceId]);
    expect(q.device_keys[alice.userId][alice.deviceId].keys).toEqual(aliceKeys.keys.keys);
  });

  it('answers queries for unknown users and devices with empty maps', async () => {
    const q = ok(await query(bob, { '@nobody:localhost': [], [alice.userId]: ['NOSUCHDEVICE'], '@x:elsewhere.example': [] }));
    expect(q.device_keys).toEqual({ '@nobody:localhost': {}, [alice.userId]: {}, '@x:elsewhere.example': {} });
    expectError(await bob.api.post(`${V3}/keys/query`, { device_keys: { [alice.userId]: 'all' } }), 400, 'M_BAD_JSON');
    const many = Object.fromEntries(Array.from({ length: 5001 }, (_v, i) => [`@u${i}:localhost`, []]));
    expectError(await query(bob, many), 400, 'M_INVALID_PARAM');
  });

  it('hands each one-time key out once, oldest first, then the fallback key, which sync reports used', async () => {
    const wanted = { [alice.userId]: { [alice.deviceId]: 'signed_curve25519' } };
    // Concurrent claims never share a key.
    const replies = await Promise.all(Array.from({ length: 5 }, () => claim(bob, wanted)));
    const ids = replies.map((r) => Object.keys(ok(r).one_time_keys[alice.userId][alice.deviceId])[0]);
    expect(new Set(ids).size).toBe(5);
    expect(ids.every((id) => /^signed_curve25519:k\d$/.test(id!))).toBe(true);
    expect((await sync(alice.api)).device_one_time_keys_count).toEqual({});
    for (let i = 0; i < 2; i++) {
      const fb = ok(await claim(bob, wanted)).one_time_keys[alice.userId][alice.deviceId];
      expect(Object.keys(fb)).toEqual(['signed_curve25519:fb1']);
      expect(fb['signed_curve25519:fb1'].fallback).toBe(true);
    }
    expect((await sync(alice.api)).device_unused_fallback_key_types).toEqual([]);
    // Unknown devices, users and algorithms give nothing.
    const none = ok(await claim(bob, { [alice.userId]: { NOPE: 'signed_curve25519', [alice.deviceId]: 'other_alg' }, '@nobody:localhost': { X: 'signed_curve25519' } }));
    expect(none.one_time_keys).toEqual({});
    // A new fallback key is unused again.
    ok(await upload(alice, { fallback_keys: { 'signed_curve25519:fb2': signed({ key: 'bmV3', fallback: true }, alice.userId, aliceKeys.key) } }));
    expect((await sync(alice.api)).device_unused_fallback_key_types).toEqual(['signed_curve25519']);
  });

  it('tells room members of device-list changes in /sync and /keys/changes, waking a long poll', async () => {
    const start = (await sync(bob.api)).next_batch as string;
    const polling = sync(bob.api, { since: start, timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    // Alice publishes new keys for her device (a re-key).
    aliceKeys = deviceKeys(alice.userId, alice.deviceId);
    ok(await upload(alice, { device_keys: aliceKeys.keys }));
    const woken = await polling;
    expect(woken.device_lists.changed).toEqual([alice.userId]);
    const changes = ok(await bob.api.get(`${V3}/keys/changes?from=${enc(start)}&to=${enc(woken.next_batch)}`));
    expect(changes.changed).toEqual([alice.userId]);
    expect(changes.left).toEqual([]);
    // Eve shares no room with Alice: she is not told.
    const eveStart = (await sync(eve.api)).next_batch;
    ok(await upload(alice, { device_keys: deviceKeys(alice.userId, alice.deviceId).keys }));
    expect((await sync(eve.api, { since: eveStart })).device_lists).toEqual({ changed: [], left: [] });
    // Eve joins: she and Alice now share a room; Bob hears that Eve joined.
    const bobBefore = (await sync(bob.api)).next_batch;
    const eveBefore = (await sync(eve.api)).next_batch;
    await invite(alice.api, roomId, eve.userId);
    await join(eve.api, roomId);
    expect((await sync(bob.api, { since: bobBefore })).device_lists.changed).toContain(eve.userId);
    expect((await sync(eve.api, { since: eveBefore })).device_lists.changed).toEqual(expect.arrayContaining([alice.userId, bob.userId]));
    // Eve leaves: she shares no room with Bob any more.
    const bobMid = (await sync(bob.api)).next_batch;
    ok(await eve.api.post(`${V3}/rooms/${enc(roomId)}/leave`, {}));
    const after = await sync(bob.api, { since: bobMid });
    expect(after.device_lists.left).toEqual([eve.userId]);
    const c = ok(await bob.api.get(`${V3}/keys/changes?from=${enc(bobMid)}&to=${enc(after.next_batch)}`));
    expect(c.left).toEqual([eve.userId]);
    // Nothing new: an empty delta, and tokens are checked.
    expect(ok(await bob.api.get(`${V3}/keys/changes?from=${enc(after.next_batch)}&to=${enc(after.next_batch)}`))).toEqual({ changed: [], left: [] });
    expectError(await bob.api.get(`${V3}/keys/changes?from=nope&to=${enc(after.next_batch)}`), 400, 'M_INVALID_PARAM');
    expectError(await bob.api.get(`${V3}/keys/changes?from=${enc(after.next_batch)}`), 400, 'M_MISSING_PARAM');
  });

  it('delivers to-device messages once per transaction, wakes the recipient, and deletes them once acknowledged', async () => {
    const start = (await sync(bob.api)).next_batch as string;
    const polling = sync(bob.api, { since: start, timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    const send = (t: string, body: Json, u = alice) => u.api.put(`${V3}/sendToDevice/m.room.encrypted/${enc(t)}`, body);
    const t1 = txn();
    ok(await send(t1, { messages: { [bob.userId]: { [bob.deviceId]: { ciphertext: 'opaque-1' } } } }));
    const woken = await polling;
    expect(woken.to_device.events).toEqual([{ sender: alice.userId, type: 'm.room.encrypted', content: { ciphertext: 'opaque-1' } }]);
    // A replayed transaction is answered the same and delivers nothing new.
    ok(await send(t1, { messages: { [bob.userId]: { [bob.deviceId]: { ciphertext: 'opaque-1-again' } } } }));
    // Not acknowledged yet: syncing from the same token gives it again.
    expect((await sync(bob.api, { since: start })).to_device.events).toHaveLength(1);
    const next = await sync(bob.api, { since: woken.next_batch });
    expect(next.to_device.events).toEqual([]);
    const left = await server.services.db('to_device_messages').where({ user_id: bob.userId }).count<{ n: string }[]>({ n: '*' });
    expect(Number(left[0]!.n)).toBe(0);
    // Acknowledged means gone, even for an old token.
    expect((await sync(bob.api, { since: start })).to_device.events).toEqual([]);

    // '*' reaches every device of the user; unknown devices and users are skipped.
    const login = await bob.api.as(undefined).post(`${V3}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: bob.userId }, password: bob.password });
    const bob2 = bob.api.as(ok(login).access_token);
    const b2start = (await sync(bob2)).next_batch;
    const b1start = (await sync(bob.api)).next_batch;
    ok(await send(txn(), { messages: { [bob.userId]: { '*': { n: 1 }, NOPE: { n: 2 } }, '@nobody:localhost': { X: { n: 3 } }, '@x:other.example': { Y: { n: 4 } } } }));
    expect((await sync(bob2, { since: b2start })).to_device.events.map((e: Json) => e.content)).toEqual([{ n: 1 }]);
    expect((await sync(bob.api, { since: b1start })).to_device.events.map((e: Json) => e.content)).toEqual([{ n: 1 }]);

    // Order is kept across sends.
    const s0 = (await sync(bob.api)).next_batch;
    for (let i = 0; i < 5; i++) ok(await send(txn(), { messages: { [bob.userId]: { [bob.deviceId]: { i } } } }));
    expect((await sync(bob.api, { since: s0 })).to_device.events.map((e: Json) => e.content.i)).toEqual([0, 1, 2, 3, 4]);

    // Huge messages and malformed bodies are refused; nothing is queued.
    const s1 = (await sync(bob.api)).next_batch;
    expectError(await send(txn(), { messages: { [bob.userId]: { [bob.deviceId]: { big: 'x'.repeat(70_000) } } } }), 413, 'M_TOO_LARGE');
    expectError(await send(txn(), { messages: { [bob.userId]: { [bob.deviceId]: 'text' } } }), 400, 'M_BAD_JSON');
    expectError(await send(txn(), { messages: [] }), 400, 'M_BAD_JSON');
    expectError(await send(txn(), {}), 400, 'M_BAD_JSON');
    expect((await sync(bob.api, { since: s1 })).to_device.events).toEqual([]);
  });

  it('uploads cross-signing keys without UIA the first time, and asks for it to replace them', async () => {
    const cs = crossSigning(alice.userId);
    ok(await alice.api.post(`${V3}/keys/device_signing/upload`, cs.body));
    // The same keys again (a retry) need no UIA either.
    ok(await alice.api.post(`${V3}/keys/device_signing/upload`, cs.body));
    const q = ok(await query(bob, { [alice.userId]: [] }));
    expect(q.master_keys[alice.userId].keys).toEqual(cs.body.master_key.keys);
    expect(q.self_signing_keys[alice.userId].keys).toEqual(cs.body.self_signing_key.keys);
    // Whom Alice verified is hers to know.
    expect(q.user_signing_keys[alice.userId]).toBeUndefined();
    expect(ok(await query(alice, { [alice.userId]: [] })).user_signing_keys[alice.userId].keys).toEqual(cs.body.user_signing_key.keys);

    const replacement = crossSigning(alice.userId);
    const challenge = await alice.api.post(`${V3}/keys/device_signing/upload`, replacement.body);
    expect(challenge.status).toBe(401);
    expect(challenge.body.flows).toEqual([{ stages: ['m.login.password'] }]);
    const session = challenge.body.session as string;
    const wrong = await alice.api.post(`${V3}/keys/device_signing/upload`, {
      ...replacement.body,
      auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.userId }, password: 'wrong', session },
    });
    expectError(wrong, 401, 'M_FORBIDDEN');
    expect(ok(await query(bob, { [alice.userId]: [] })).master_keys[alice.userId].keys).toEqual(cs.body.master_key.keys);
    // Bob's password does not unlock Alice's keys.
    const asBob = await alice.api.post(`${V3}/keys/device_signing/upload`, {
      ...replacement.body,
      auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: bob.userId }, password: bob.password, session },
    });
    expect(asBob.status).toBe(401);
    ok(
      await alice.api.post(`${V3}/keys/device_signing/upload`, {
        ...replacement.body,
        auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.userId }, password: alice.password, session },
      }),
    );
    expect(ok(await query(bob, { [alice.userId]: [] })).master_keys[alice.userId].keys).toEqual(replacement.body.master_key.keys);
  });

  it('refuses cross-signing keys that are not the requester’s, not signed by the master key, or malformed', async () => {
    const cs = crossSigning(eve.userId);
    const other = crossSigning(eve.userId);
    const post = (body: Json) => eve.api.post(`${V3}/keys/device_signing/upload`, body);
    expectError(await post({ master_key: { ...cs.body.master_key, user_id: alice.userId } }), 400, 'M_INVALID_PARAM');
    expectError(await post({ master_key: { ...cs.body.master_key, usage: ['self_signing'] } }), 400, 'M_INVALID_PARAM');
    expectError(await post({ master_key: { ...cs.body.master_key, keys: { 'ed25519:abc': 'def' } } }), 400, 'M_INVALID_PARAM');
    expectError(await post({ master_key: cs.body.master_key, self_signing_key: other.body.self_signing_key }), 400, 'M_INVALID_SIGNATURE');
    expectError(await post({ self_signing_key: cs.body.self_signing_key }), 400, 'M_MISSING_PARAM');
    const key = ed25519((pub) => `ed25519:${pub}`);
    // A key whose public part is one of the user's device IDs would be ambiguous.
    const login = ok(await eve.api.as(undefined).post(`${V3}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: eve.userId }, password: eve.password, device_id: key.pub }));
    expect(login.device_id).toBe(key.pub);
    expectError(await post({ master_key: { user_id: eve.userId, usage: ['master'], keys: { [key.keyId]: key.pub } } }), 403, 'M_FORBIDDEN');
    expect(ok(await query(eve, { [eve.userId]: [] })).master_keys).toEqual({});
  });

  it('accepts valid signatures on keys the requester may sign, and reports the others as failures', async () => {
    const bobDevice = deviceKeys(bob.userId, bob.deviceId);
    ok(await upload(bob, { device_keys: bobDevice.keys }));
    const cs = crossSigning(bob.userId);
    ok(await bob.api.post(`${V3}/keys/device_signing/upload`, cs.body));
    // Bob signs his device with his self-signing key, and his master key with his device.
    const signedDevice = signed(bobDevice.keys, bob.userId, cs.selfSigning);
    const signedMaster = signed(cs.body.master_key, bob.userId, bobDevice.key);
    // Alice's master key, signed by Bob's user-signing key (Bob verified Alice).
    const aliceMaster = ok(await query(bob, { [alice.userId]: [] })).master_keys[alice.userId];
    const { signatures: _sigs, ...aliceMasterBare } = aliceMaster;
    const verifiedAlice = signed(aliceMasterBare, bob.userId, cs.userSigning);
    // Forged: Eve's device signed by Bob's self-signing key (not Bob's to sign), a bad signature.
    const eveDevice = deviceKeys(eve.userId, eve.deviceId);
    ok(await upload(eve, { device_keys: eveDevice.keys }));
    const forged = { ...bobDevice.keys, signatures: { [bob.userId]: { [cs.selfSigning.keyId]: 'A'.repeat(86) } } };
    const res = ok(
      await bob.api.post(`${V3}/keys/signatures/upload`, {
        [bob.userId]: { [bob.deviceId]: signedDevice, [cs.master.pub]: signedMaster, NOSUCHDEVICE: forged },
        [alice.userId]: { [Object.values(aliceMaster.keys as Record<string, string>)[0]!]: verifiedAlice },
        [eve.userId]: { [eve.deviceId]: signed(eveDevice.keys, bob.userId, cs.selfSigning) },
      }),
    );
    expect(Object.keys(res.failures).sort()).toEqual([bob.userId, eve.userId].sort());
    expect(res.failures[bob.userId]).toEqual({ NOSUCHDEVICE: expect.objectContaining({ errcode: 'M_NOT_FOUND' }) });
    expect(res.failures[eve.userId][eve.deviceId].errcode).toBe('M_NOT_FOUND');
    const q = ok(await query(alice, { [bob.userId]: [], [alice.userId]: [] }));
    expect(q.device_keys[bob.userId][bob.deviceId].signatures[bob.userId][cs.selfSigning.keyId]).toBe(signedDevice.signatures[bob.userId][cs.selfSigning.keyId]);
    expect(q.master_keys[bob.userId].signatures[bob.userId][`ed25519:${bob.deviceId}`]).toBeDefined();
    expect(q.master_keys[alice.userId].signatures[bob.userId][cs.userSigning.keyId]).toBeDefined();

    // A signature that does not verify over the stored key is refused.
    const tampered = signed({ ...bobDevice.keys, algorithms: ['other'] }, bob.userId, cs.selfSigning);
    const bad = ok(await bob.api.post(`${V3}/keys/signatures/upload`, { [bob.userId]: { [bob.deviceId]: tampered } }));
    expect(bad.failures[bob.userId][bob.deviceId].errcode).toBe('M_INVALID_SIGNATURE');
    expectError(await bob.api.post(`${V3}/keys/signatures/upload`, { [bob.userId]: { [bob.deviceId]: 'x' } }), 400, 'M_BAD_JSON');
  });

  it('forgets a device’s keys and messages when it logs out, and tells the room', async () => {
    const login = ok(await alice.api.as(undefined).post(`${V3}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.userId }, password: alice.password }));
    const phone = alice.api.as(login.access_token);
    const phoneKeys = deviceKeys(alice.userId, login.device_id);
    ok(await phone.post(`${V3}/keys/upload`, { device_keys: phoneKeys.keys, one_time_keys: oneTimeKeys(alice.userId, phoneKeys.key, 3) }));
    ok(await bob.api.put(`${V3}/sendToDevice/m.test/${txn()}`, { messages: { [alice.userId]: { [login.device_id]: { hello: 1 } } } }));
    expect(Object.keys(ok(await query(bob, { [alice.userId]: [] })).device_keys[alice.userId])).toContain(login.device_id);
    const before = (await sync(bob.api)).next_batch;
    ok(await phone.post(`${V3}/logout`, {}));
    expect(Object.keys(ok(await query(bob, { [alice.userId]: [] })).device_keys[alice.userId])).not.toContain(login.device_id);
    expect((await sync(bob.api, { since: before })).device_lists.changed).toContain(alice.userId);
    for (const table of ['e2e_one_time_keys', 'e2e_device_keys', 'to_device_messages']) {
      expect(await server.services.db(table).where({ user_id: alice.userId, device_id: login.device_id })).toEqual([]);
    }
  });
});
