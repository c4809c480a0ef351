import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc, eventually, registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer } from '../../support/server.ts';

const V1 = '/_tocsin/v1';
const C = '/_matrix/client/v3';

describe('alerts posted in their crisis rooms', () => {
  let admin: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let tocsin: string;

  beforeAll(async () => {
    const server = await startTestServer();
    admin = await registerAdmin(server.url, 'rp-chef');
    bob = await registerUser(server.url, 'rp-bob');
    carol = await registerUser(server.url, 'rp-carol');
    tocsin = `@tocsin:${admin.userId.split(':')[1]}`;
  });
  afterAll(closeAllTestServers);

  async function crisisRoom(name: string, withTocsin: boolean): Promise<string> {
    const invite = [bob.userId, carol.userId, ...(withTocsin ? [tocsin] : [])];
    const created = await admin.api.post(`${C}/createRoom`, { name, preset: 'private_chat', invite });
    expect(created.status).toBe(200);
    const roomId = created.body.room_id as string;
    for (const user of [bob, carol]) expect((await user.api.post(`${C}/join/${enc(roomId)}`)).status).toBe(200);
    return roomId;
  }

  const alertEventsIn = async (user: TestUser, roomId: string) => {
    const res = await user.api.get(`${C}/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
    expect(res.status).toBe(200);
    return (res.body.chunk as any[]).filter((e) => e.content?.['org.tocsin.alert']);
  };

  it('posts the alert in a room that invited Tocsin, where a recipient reaction acknowledges', async () => {
    const roomId = await crisisRoom('Cellule inondation', true);
    await eventually(async () => {
      const members = await admin.api.get(`${C}/rooms/${enc(roomId)}/joined_members`);
      return members.body.joined?.[tocsin] ? true : undefined;
    }, 'Tocsin joined on invitation');

    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'critical',
      title: 'Crue',
      body: 'Évacuation du rez-de-chaussée.',
      audience: [roomId],
      escalation: [{ after_s: 0, channels: ['matrix'] }],
    });
    expect(created.status).toBe(200);
    const alertId = created.body.alert_id as string;
    const [post] = await eventually(async () => {
      const events = await alertEventsIn(bob, roomId);
      return events.length > 0 ? events : undefined;
    }, 'the alert in the crisis room');
    expect(post.sender).toBe(tocsin);
    expect(post.content.body).toContain('Crue');
    expect(post.content['org.tocsin.alert']).toMatchObject({ alert_id: alertId, severity: 'critical' });
    // The post names no personal link: those stay in each person's own alert room.
    expect(post.content['org.tocsin.alert'].ack_url).toBeUndefined();

    const reacted = await bob.api.put(`${C}/rooms/${enc(roomId)}/send/m.reaction/r1`, {
      'm.relates_to': { rel_type: 'm.annotation', event_id: post.event_id, key: '✅' },
    });
    expect(reacted.status).toBe(200);
    const status = await eventually(async () => {
      const res = await admin.api.get(`${V1}/alerts/${alertId}`);
      const line = res.body.recipients.find((r: { user_id: string }) => r.user_id === bob.userId);
      return line?.acknowledged_at ? res.body : undefined;
    }, 'bob acknowledged by his reaction in the room');
    const byUser = Object.fromEntries(status.recipients.map((r: { user_id: string }) => [r.user_id, r]));
    expect(byUser[bob.userId].ack_channel).toBe('matrix');
    // Carol did not react: her acknowledgement is still awaited. Tocsin is never a recipient.
    expect(byUser[carol.userId].acknowledged_at).toBeNull();
    expect(byUser[tocsin]).toBeUndefined();
  });

  it('does not post where Tocsin was not invited, and counts reactions only in the room of the post', async () => {
    const quiet = await crisisRoom('Sans Tocsin', false);
    const created = await admin.api.post(`${V1}/alerts`, {
      severity: 'warning',
      title: 'Panne',
      body: 'Réseau coupé au site B.',
      audience: [quiet, carol.userId],
      escalation: [{ after_s: 0, channels: ['matrix'] }],
    });
    expect(created.status).toBe(200);
    const alertId = created.body.alert_id as string;
    // Carol gets it in her own alert room; the room itself shows nothing.
    await eventually(async () => {
      const res = await admin.api.get(`${V1}/alerts/${alertId}`);
      return res.body.recipients.every((r: { deliveries: Array<{ state: string }> }) => r.deliveries.every((d) => d.state === 'sent')) ? true : undefined;
    }, 'matrix deliveries sent');
    expect(await alertEventsIn(bob, quiet)).toEqual([]);

    // A room with Tocsin, but an alert for carol alone: bob's reaction to its post changes nothing.
    const shared = await crisisRoom('Partagée', true);
    await eventually(async () => ((await admin.api.get(`${C}/rooms/${enc(shared)}/joined_members`)).body.joined?.[tocsin] ? true : undefined), 'Tocsin joined');
    const second = await admin.api.post(`${V1}/alerts`, { severity: 'info', title: 'Note', body: 'Pour Carol.', audience: [carol.userId, shared], escalation: [{ after_s: 0, channels: ['matrix'] }] });
    const secondId = second.body.alert_id as string;
    const [post] = await eventually(async () => {
      const events = await alertEventsIn(admin, shared);
      return events.length > 0 ? events : undefined;
    }, 'the post');
    // Everyone in the room is in the audience (the room names them), but a reaction to the
    // post from another room does not count: it must be made where the post is.
    const status0 = await admin.api.get(`${V1}/alerts/${secondId}`);
    expect(status0.body.recipients.map((r: { user_id: string }) => r.user_id).sort()).toEqual([admin.userId, bob.userId, carol.userId].sort());
    const elsewhere = await bob.api.put(`${C}/rooms/${enc(quiet)}/send/m.reaction/r2`, {
      'm.relates_to': { rel_type: 'm.annotation', event_id: post.event_id, key: '✅' },
    });
    expect(elsewhere.status).toBe(200);
    // Carol's reaction in the room itself, sent after bob's, does count.
    await carol.api.put(`${C}/rooms/${enc(shared)}/send/m.reaction/r3`, { 'm.relates_to': { rel_type: 'm.annotation', event_id: post.event_id, key: '👍' } });
    const after = await eventually(async () => {
      const res = await admin.api.get(`${V1}/alerts/${secondId}`);
      return res.body.recipients.find((r: { user_id: string }) => r.user_id === carol.userId).acknowledged_at ? res.body : undefined;
    }, 'carol acknowledged');
    expect(after.recipients.find((r: { user_id: string }) => r.user_id === bob.userId).acknowledged_at).toBeNull();
  });
});
