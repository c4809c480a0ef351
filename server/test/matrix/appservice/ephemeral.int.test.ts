// Ephemeral events pushed to application services that ask for them (receive_ephemeral):
// typing, receipts and presence of the rooms and users they are interested in, nothing else.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppserviceStandIn } from '../../support/appservice-standin.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, V3, createRoom, eventually, ok, registerSpecUser, sendMessage, type SpecUser } from '../../support/spec-client.ts';

function registration(dir: string, id: string, url: string, prefix: string, ephemeral: boolean): string {
  const file = path.join(dir, `${id}.yaml`);
  writeFileSync(
    file,
    [
      `id: ${id}`,
      `url: ${url}`,
      `as_token: as-${id}-0123456789`,
      `hs_token: hs-${id}-0123456789`,
      `sender_localpart: ${id}bot`,
      'rate_limited: false',
      ...(ephemeral ? ['receive_ephemeral: true'] : []),
      'namespaces:',
      `  users: [{ exclusive: true, regex: "@${prefix}_.*:localhost" }]`,
      '',
    ].join('\n'),
  );
  return file;
}

describe('application service ephemeral events', () => {
  let server: TestServer;
  let eager: AppserviceStandIn;
  let plain: AppserviceStandIn;
  const log = new CallLog();
  let human: SpecUser;
  let other: SpecUser;
  let roomId: string;

  beforeAll(async () => {
    eager = await AppserviceStandIn.start('hs-eager-0123456789');
    plain = await AppserviceStandIn.start('hs-plain-0123456789');
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-as-eph-'));
    const files = [registration(dir, 'eager', eager.url, 'eager', true), registration(dir, 'plain', plain.url, 'plain', false)];
    const config = path.join(dir, 'tocsin.yaml');
    writeFileSync(config, `app_service_config_files: ${JSON.stringify(files)}\n`);
    server = await startTestServer({ TOCSIN_CONFIG: config });
    human = await registerSpecUser(server.url, log);
    other = await registerSpecUser(server.url, log);
    roomId = await createRoom(human.api, { preset: 'public_chat' });
    // A ghost of each service joins the room.
    for (const [id, ghost] of [['eager', 'eager_alice'], ['plain', 'plain_bob']] as const) {
      const as = new SpecApi(server.url, `as-${id}-0123456789`, log);
      ok(await as.post(`${V3}/register`, { type: 'm.login.application_service', username: ghost, inhibit_login: true }));
      ok(await as.post(`${V3}/join/${enc(roomId)}?user_id=${enc(`@${ghost}:localhost`)}`, {}));
    }
  });

  afterAll(async () => {
    await closeAllTestServers();
    await eager.close();
    await plain.close();
  });

  const edus = (service: AppserviceStandIn) => service.transactions.flatMap((t) => (t.ephemeral ?? []) as Array<Record<string, any>>);

  it('pushes typing, receipts and presence of its rooms to the service that asked', async () => {
    ok(await human.api.put(`${V3}/rooms/${enc(roomId)}/typing/${enc(human.userId)}`, { typing: true, timeout: 30_000 }));
    const typing = await eventually(async () => edus(eager).find((e) => e.type === 'm.typing' && e.room_id === roomId && e.content.user_ids.includes(human.userId)), 'typing');
    expect(typing.content.user_ids).toEqual([human.userId]);

    const eventId = await sendMessage(human.api, roomId, 'lu ?');
    ok(await human.api.post(`${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {}));
    const receipt = await eventually(async () => edus(eager).find((e) => e.type === 'm.receipt' && e.content[eventId]), 'receipt');
    expect(receipt).toMatchObject({ room_id: roomId, content: { [eventId]: { 'm.read': { [human.userId]: { ts: expect.any(Number) } } } } });

    ok(await human.api.put(`${V3}/presence/${enc(human.userId)}/status`, { presence: 'unavailable', status_msg: 'Sur le terrain' }));
    const presence = await eventually(async () => edus(eager).find((e) => e.type === 'm.presence' && e.sender === human.userId), 'presence');
    expect(presence.content).toMatchObject({ presence: 'unavailable', status_msg: 'Sur le terrain' });
  });

  it('keeps private receipts, strangers and services that did not ask out of it', async () => {
    const eventId = await sendMessage(human.api, roomId, 'privé');
    ok(await human.api.post(`${V3}/rooms/${enc(roomId)}/receipt/m.read.private/${enc(eventId)}`, {}));
    // A room without the service's users, and a user who shares no room with them.
    const elsewhere = await createRoom(other.api, {});
    ok(await other.api.put(`${V3}/rooms/${enc(elsewhere)}/typing/${enc(other.userId)}`, { typing: true, timeout: 30_000 }));
    ok(await other.api.put(`${V3}/presence/${enc(other.userId)}/status`, { presence: 'online' }));
    // A marker the service does get, after all of the above.
    ok(await human.api.put(`${V3}/rooms/${enc(roomId)}/typing/${enc(human.userId)}`, { typing: false }));
    await eventually(async () => edus(eager).find((e) => e.type === 'm.typing' && e.room_id === roomId && e.content.user_ids.length === 0), 'typing stopped');
    expect(edus(eager).some((e) => e.type === 'm.receipt' && e.content[eventId])).toBe(false);
    expect(edus(eager).some((e) => e.room_id === elsewhere || e.sender === other.userId)).toBe(false);
    // The other service gets the room's events, never an ephemeral section.
    await eventually(async () => (plain.events.some((e) => e.event_id === eventId) ? true : undefined), 'the plain service’s events');
    expect(plain.transactions.every((t) => t.ephemeral === undefined)).toBe(true);
  });
});
