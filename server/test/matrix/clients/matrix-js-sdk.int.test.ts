import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientEvent, createClient, RoomEvent, RoomMemberEvent, type MatrixClient, type MatrixEvent, type Room } from 'matrix-js-sdk';
import { registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';

// matrix-js-sdk is chatty on the console; keep test output readable. Its global logger is a
// loglevel instance, whose setLevel its type declarations leave out.
import { logger } from 'matrix-js-sdk/lib/logger.js';
(logger as unknown as { setLevel(level: string): void }).setLevel('error');

function clientFor(server: TestServer, user: TestUser): MatrixClient {
  return createClient({ baseUrl: server.url, accessToken: user.token, userId: user.userId, deviceId: user.deviceId });
}

async function started(client: MatrixClient): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onSync = (state: string) => {
      if (state === 'PREPARED' || state === 'SYNCING') {
        client.off(ClientEvent.Sync, onSync);
        resolve();
      } else if (state === 'ERROR') {
        reject(new Error('sync error'));
      }
    };
    client.on(ClientEvent.Sync, onSync);
    void client.startClient({ initialSyncLimit: 20 });
  });
}

function waitFor<T>(register: (done: (value: T) => void) => void, what: string, ms = 15_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    register((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

describe('matrix-js-sdk as a client', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let aliceClient: MatrixClient;
  let bobClient: MatrixClient;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await registerUser(server.url, 'alice');
    bob = await registerUser(server.url, 'bob');
    aliceClient = clientFor(server, alice);
    bobClient = clientFor(server, bob);
    await Promise.all([started(aliceClient), started(bobClient)]);
  });

  afterAll(async () => {
    aliceClient?.stopClient();
    bobClient?.stopClient();
    await closeAllTestServers();
  });

  it('creates a room, invites, joins and exchanges messages through its sync loop', async () => {
    const { room_id: roomId } = await aliceClient.createRoom({ name: 'Cellule de crise', topic: 'Exercice' });

    const invited = waitFor<string>((done) => {
      bobClient.on(RoomMemberEvent.Membership, (_e, member) => {
        if (member.userId === bob.userId && member.membership === 'invite') done(member.roomId);
      });
    }, 'invite');
    await aliceClient.invite(roomId, bob.userId);
    expect(await invited).toBe(roomId);

    await bobClient.joinRoom(roomId);
    const bobJoinedSeenByAlice = waitFor<void>((done) => {
      const check = () => {
        if (aliceClient.getRoom(roomId)?.getMember(bob.userId)?.membership === 'join') done();
      };
      aliceClient.on(RoomMemberEvent.Membership, check);
      check();
    }, 'bob joined (seen by alice)');
    await bobJoinedSeenByAlice;

    const received = waitFor<MatrixEvent>((done) => {
      bobClient.on(RoomEvent.Timeline, (event, room) => {
        if (room?.roomId === roomId && event.getType() === 'm.room.message' && event.getContent().body === 'Point de situation à 14h') done(event);
      });
    }, 'message at bob');
    await aliceClient.sendTextMessage(roomId, 'Point de situation à 14h');
    const event = await received;
    expect(event.getSender()).toBe(alice.userId);

    const reply = waitFor<MatrixEvent>((done) => {
      aliceClient.on(RoomEvent.Timeline, (e, room) => {
        if (room?.roomId === roomId && e.getType() === 'm.room.message' && e.getSender() === bob.userId) done(e);
      });
    }, 'reply at alice');
    await bobClient.sendTextMessage(roomId, 'Reçu');
    expect((await reply).getContent().body).toBe('Reçu');

    const room = bobClient.getRoom(roomId) as Room;
    expect(room.name).toBe('Cellule de crise');
    expect(room.getJoinedMemberCount()).toBe(2);
  });

  it('paginates history with scrollback', async () => {
    const { room_id: roomId } = await aliceClient.createRoom({ name: 'Main courante' });
    // As a person would: the room is on screen before anything is typed into it.
    await waitFor<void>((done) => {
      const check = () => aliceClient.getRoom(roomId) && done();
      aliceClient.on(ClientEvent.Room, check);
      check();
    }, 'room known to the client');
    for (let i = 0; i < 25; i++) await aliceClient.sendTextMessage(roomId, `entrée ${i}`);
    const room = await waitFor<Room>((done) => {
      const check = () => {
        const r = aliceClient.getRoom(roomId);
        if (r && r.getLiveTimeline().getEvents().some((e) => e.getContent().body === 'entrée 24')) done(r);
      };
      aliceClient.on(RoomEvent.Timeline, check);
      check();
    }, 'room in alice client');
    await aliceClient.scrollback(room, 50);
    const bodies = room
      .getLiveTimeline()
      .getEvents()
      .filter((e) => e.getType() === 'm.room.message')
      .map((e) => e.getContent().body);
    expect(bodies).toEqual(Array.from({ length: 25 }, (_, i) => `entrée ${i}`));
  });
});
