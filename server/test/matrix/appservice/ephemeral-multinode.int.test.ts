// Ephemeral events for an application service on two nodes sharing one PostgreSQL: typing,
// receipts and presence happen in the memory of the node a client talks to, while either node
// may hold the service's sending lease. Each must reach the service once, none lost, also when
// the service was down for a while.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppserviceStandIn } from '../../support/appservice-standin.ts';
import { enc } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, testDatabaseKind, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, V3, createRoom, eventually, join, ok, registerSpecUser, sendMessage, type SpecUser } from '../../support/spec-client.ts';

describe.skipIf(testDatabaseKind() !== 'postgres')('application service ephemeral events on two nodes', () => {
  let first: TestServer;
  let second: TestServer;
  let service: AppserviceStandIn;
  const log = new CallLog();
  let onFirst: SpecUser;
  let onSecond: SpecUser;
  let roomId: string;

  beforeAll(async () => {
    service = await AppserviceStandIn.start('hs-bridge-0123456789');
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-as-multi-'));
    const registration = path.join(dir, 'bridge.yaml');
    writeFileSync(
      registration,
      [
        'id: bridge',
        `url: ${service.url}`,
        'as_token: as-bridge-0123456789',
        'hs_token: hs-bridge-0123456789',
        'sender_localpart: bridgebot',
        'rate_limited: false',
        'receive_ephemeral: true',
        'namespaces:',
        '  users: [{ exclusive: true, regex: "@bridge_.*:localhost" }]',
        '',
      ].join('\n'),
    );
    const config = path.join(dir, 'tocsin.yaml');
    writeFileSync(config, `app_service_config_files: [${JSON.stringify(registration)}]\n`);
    first = await startTestServer({ TOCSIN_CONFIG: config });
    second = await startTestServer({ TOCSIN_CONFIG: config }, { shareDatabaseOf: first });
    onFirst = await registerSpecUser(first.url, log);
    onSecond = await registerSpecUser(second.url, log);
    roomId = await createRoom(onFirst.api, { preset: 'public_chat' });
    await join(onSecond.api, roomId);
    const as = new SpecApi(first.url, 'as-bridge-0123456789', log);
    ok(await as.post(`${V3}/register`, { type: 'm.login.application_service', username: 'bridge_ghost', inhibit_login: true }));
    ok(await as.post(`${V3}/join/${enc(roomId)}?user_id=${enc('@bridge_ghost:localhost')}`, {}));
  });

  afterAll(async () => {
    // The node that shares the database goes first: the other one drops it.
    await second.close();
    await closeAllTestServers();
    await service.close();
  });

  const edus = () => service.transactions.flatMap((t) => (t.ephemeral ?? []) as Array<Record<string, any>>);
  const typingOf = (userId: string, typing: boolean) => (e: Record<string, any>) =>
    e.type === 'm.typing' && e.room_id === roomId && (e.content.user_ids as string[]).includes(userId) === typing;

  it('delivers what happened on either node, once each', async () => {
    ok(await onSecond.api.put(`${V3}/rooms/${enc(roomId)}/typing/${enc(onSecond.userId)}`, { typing: true, timeout: 30_000 }));
    ok(await onFirst.api.put(`${V3}/rooms/${enc(roomId)}/typing/${enc(onFirst.userId)}`, { typing: true, timeout: 30_000 }));
    const eventId = await sendMessage(onFirst.api, roomId, 'vu ?');
    ok(await onSecond.api.post(`${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {}));
    ok(await onSecond.api.put(`${V3}/presence/${enc(onSecond.userId)}/status`, { presence: 'unavailable', status_msg: 'Sur site' }));
    // The marker comes last, from the first node.
    ok(await onFirst.api.put(`${V3}/presence/${enc(onFirst.userId)}/status`, { presence: 'online', status_msg: 'marker' }));
    await eventually(async () => (edus().some((e) => e.type === 'm.presence' && e.content.status_msg === 'marker') ? true : undefined), 'marker');
    await eventually(async () => (edus().some((e) => e.type === 'm.receipt' && e.content[eventId]) ? true : undefined), 'receipt');
    await eventually(async () => (edus().some((e) => e.type === 'm.presence' && e.sender === onSecond.userId) ? true : undefined), 'presence');

    expect(edus().filter((e) => e.type === 'm.typing' && e.room_id === roomId && e.content.user_ids.includes(onSecond.userId) && !e.content.user_ids.includes(onFirst.userId))).toHaveLength(1);
    expect(edus().filter(typingOf(onFirst.userId, true))).toHaveLength(1);
    expect(edus().filter((e) => e.type === 'm.receipt' && e.content[eventId]?.['m.read']?.[onSecond.userId])).toHaveLength(1);
    expect(edus().filter((e) => e.type === 'm.presence' && e.sender === onSecond.userId)).toEqual([
      expect.objectContaining({ content: expect.objectContaining({ presence: 'unavailable', status_msg: 'Sur site' }) }),
    ]);
    // Transaction ids are one sequence across nodes: no id was used twice for different content.
    const ids = service.transactions.map((t) => Number(t.txnId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps them while the service is down, and delivers each once after', async () => {
    const before = service.transactions.length;
    service.failTransactions = 3;
    ok(await onSecond.api.put(`${V3}/rooms/${enc(roomId)}/typing/${enc(onSecond.userId)}`, { typing: false }));
    ok(await onFirst.api.put(`${V3}/rooms/${enc(roomId)}/typing/${enc(onFirst.userId)}`, { typing: false }));
    ok(await onSecond.api.put(`${V3}/presence/${enc(onSecond.userId)}/status`, { presence: 'online', status_msg: 'De retour' }));
    const got = await eventually(
      async () => {
        const late = service.transactions.slice(before).flatMap((t) => (t.ephemeral ?? []) as Array<Record<string, any>>);
        return late.some((e) => e.type === 'm.presence' && e.content.status_msg === 'De retour') && late.filter((e) => e.type === 'm.typing').length >= 2
          ? late
          : undefined;
      },
      'after the outage',
      30_000,
    );
    expect(service.failTransactions).toBe(0);
    expect(got.filter((e) => e.type === 'm.presence' && e.content.status_msg === 'De retour')).toHaveLength(1);
    // Both stops arrive, once each. Each node describes the room as it knows it at that moment
    // (the other's stop may still be on its way), so each list at least lacks its own user.
    const stops = got.filter((e) => e.type === 'm.typing' && e.room_id === roomId);
    expect(stops).toHaveLength(2);
    expect(stops.some(typingOf(onSecond.userId, false))).toBe(true);
    expect(stops.some(typingOf(onFirst.userId, false))).toBe(true);
  });
});
