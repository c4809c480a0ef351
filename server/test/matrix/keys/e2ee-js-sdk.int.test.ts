// End-to-end encryption with a real client: matrix-js-sdk with its Rust crypto (the code
// Element runs) on several users and devices. The server only relays and stores what the
// clients encrypted; this proves it relays enough for them to decrypt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientEvent, createClient, MatrixEvent, type MatrixClient } from 'matrix-js-sdk';
import { Api, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

import { logger, type Logger } from 'matrix-js-sdk/lib/logger.js';
(logger as unknown as { setLevel(level: string): void }).setLevel('silent');

// The crypto layers log through the client's logger: keep the test output readable.
const quiet: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, getChild: () => quiet };

interface Device {
  user: TestUser;
  deviceId: string;
  client: MatrixClient;
}

const clients: MatrixClient[] = [];

async function startDevice(server: TestServer, user: TestUser, token = user.token, deviceId = user.deviceId): Promise<Device> {
  const client = createClient({ baseUrl: server.url, accessToken: token, userId: user.userId, deviceId, logger: quiet });
  clients.push(client);
  await client.initRustCrypto({ useIndexedDB: false });
  await new Promise<void>((resolve, reject) => {
    const onSync = (state: string) => {
      if (state === 'PREPARED' || state === 'SYNCING') {
        client.off(ClientEvent.Sync, onSync);
        resolve();
      } else if (state === 'ERROR') reject(new Error('sync error'));
    };
    client.on(ClientEvent.Sync, onSync);
    void client.startClient({ initialSyncLimit: 20 });
  });
  return { user, deviceId, client };
}

/** A second login of the same user: a new device. */
async function login(server: TestServer, user: TestUser): Promise<{ token: string; deviceId: string }> {
  const res = await new Api(server.url).post('/_matrix/client/v3/login', {
    type: 'm.login.password',
    identifier: { type: 'm.id.user', user: user.userId },
    password: user.password,
  });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.access_token, deviceId: res.body.device_id };
}

async function until<T>(fn: () => T | undefined | Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the device shows the message decrypted in the room's timeline. */
function decrypted(d: Device, roomId: string, body: string): Promise<MatrixEvent> {
  return until(() => d.client.getRoom(roomId)?.getLiveTimeline().getEvents().find((e) => e.getContent().body === body), `“${body}” decrypted on ${d.user.userId}/${d.deviceId}`);
}

describe('end-to-end encryption with matrix-js-sdk (Rust crypto)', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let a1: Device;
  let b1: Device;
  let roomId: string;
  let firstEventId: string;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await registerUser(server.url);
    bob = await registerUser(server.url);
    [a1, b1] = await Promise.all([startDevice(server, alice), startDevice(server, bob)]);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.stopClient();
    await closeAllTestServers();
  });

  it('two users exchange messages in an encrypted room, each decrypting the other’s', async () => {
    // Cross-signing and a key backup first, as Element sets them up on a new account.
    await a1.client.getCrypto()!.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.userId }, password: alice.password });
      },
    });
    await a1.client.getCrypto()!.resetKeyBackup();
    expect(await a1.client.getCrypto()!.getActiveSessionBackupVersion()).toBeTruthy();

    roomId = (await a1.client.createRoom({
      name: 'Cellule chiffrée',
      invite: [bob.userId],
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    })).room_id;
    await until(() => b1.client.getRoom(roomId), 'the invite at bob');
    await b1.client.joinRoom(roomId);
    await until(() => a1.client.getRoom(roomId)?.getMember(bob.userId)?.membership === 'join', 'bob joined, seen by alice');

    firstEventId = (await a1.client.sendTextMessage(roomId, 'Point de situation chiffré')).event_id;
    const atBob = await decrypted(b1, roomId, 'Point de situation chiffré');
    expect(atBob.isEncrypted()).toBe(true);
    expect(atBob.getSender()).toBe(alice.userId);

    await b1.client.sendTextMessage(roomId, 'Reçu, chiffré aussi');
    await decrypted(a1, roomId, 'Reçu, chiffré aussi');

    // The server holds ciphertext only.
    const rows = await server.services.db('events').where({ room_id: roomId }).select('json');
    const stored = rows.map((r: { json: unknown }) => (typeof r.json === 'string' ? r.json : JSON.stringify(r.json))).join('\n');
    expect(stored).toContain('m.room.encrypted');
    expect(stored).not.toContain('Point de situation chiffré');
    expect(stored).not.toContain('Reçu, chiffré aussi');
  }, 90_000);

  it('a second device of the same user decrypts what is sent after it appears', async () => {
    const { token, deviceId } = await login(server, alice);
    const a2 = await startDevice(server, alice, token, deviceId);
    // Alice's first device must learn of the new device (device_lists in its sync) before
    // it shares the room key with it.
    await until(async () => (await a1.client.getCrypto()!.getUserDeviceInfo([alice.userId])).get(alice.userId)?.has(deviceId), 'alice’s new device known to her first one');
    await a1.client.sendTextMessage(roomId, 'Pour mes deux appareils');
    await decrypted(a2, roomId, 'Pour mes deux appareils');
    await decrypted(b1, roomId, 'Pour mes deux appareils');
  }, 90_000);

  it('a third device restores the room keys from the server-side key backup', async () => {
    const crypto1 = a1.client.getCrypto()!;
    const version = (await crypto1.getActiveSessionBackupVersion())!;
    // Every session key reaches the backup.
    await until(async () => ((await a1.client.http.authedRequest<{ count: number }>('GET' as never, '/room_keys/version')).count >= 1 ? true : undefined), 'keys in the backup');
    const key = (await crypto1.getSessionBackupPrivateKey())!;

    const { token, deviceId } = await login(server, alice);
    const a3 = await startDevice(server, alice, token, deviceId);
    const crypto3 = a3.client.getCrypto()!;
    await crypto3.storeSessionBackupPrivateKey(key, version);
    const restored = await crypto3.restoreKeyBackup();
    expect(restored.imported).toBeGreaterThanOrEqual(1);

    // The first message predates this device: only the backup can have given it the key.
    const raw = await a3.client.fetchRoomEvent(roomId, firstEventId);
    const event = new MatrixEvent(raw);
    await a3.client.decryptEventIfNeeded(event);
    expect(event.getContent().body).toBe('Point de situation chiffré');
  }, 90_000);
});
