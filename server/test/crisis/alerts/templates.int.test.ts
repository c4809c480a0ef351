import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAdmin, registerUser, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer } from '../../support/server.ts';

const V1 = '/_tocsin/v1';

describe('alert templates', () => {
  let admin: TestUser;
  let sender: TestUser;
  let bob: TestUser;
  let carol: TestUser;

  beforeAll(async () => {
    const server = await startTestServer();
    admin = await registerAdmin(server.url, 'tpl-admin');
    sender = await registerUser(server.url, 'tpl-sender');
    bob = await registerUser(server.url, 'tpl-bob');
    carol = await registerUser(server.url, 'tpl-carol');
    expect((await admin.api.put(`${V1}/admin/users/${encodeURIComponent(sender.userId)}/roles`, { roles: ['alert_sender'] })).status).toBe(200);
  });
  afterAll(closeAllTestServers);

  it('keeps a template that senders send as it is or with their own fields', async () => {
    const put = await sender.api.put(`${V1}/alert_templates/essai-sirene`, {
      severity: 'info',
      title: 'Essai de sirène',
      body: 'Essai mensuel des sirènes à midi. Aucune action requise.',
      audience: [bob.userId],
      escalation: [{ after_s: 0, channels: ['matrix'] }],
    });
    expect(put.status).toBe(200);
    const listed = await admin.api.get(`${V1}/alert_templates`);
    expect(listed.body.templates.map((t: { name: string }) => t.name)).toEqual(['essai-sirene']);
    expect(listed.body.templates[0]).toMatchObject({ updated_by: sender.userId, alert: { severity: 'info', title: 'Essai de sirène' } });

    const asIs = await sender.api.post(`${V1}/alerts`, { template: 'essai-sirene' });
    expect(asIs.status).toBe(200);
    const status = await sender.api.get(`${V1}/alerts/${asIs.body.alert_id}`);
    expect(status.body).toMatchObject({ severity: 'info', title: 'Essai de sirène' });
    expect(status.body.recipients.map((r: { user_id: string }) => r.user_id)).toEqual([bob.userId]);

    // The request's fields win over the template's.
    const changed = await sender.api.post(`${V1}/alerts`, { template: 'essai-sirene', severity: 'critical', audience: [carol.userId], drill: true });
    expect(changed.status).toBe(200);
    const changedStatus = await sender.api.get(`${V1}/alerts/${changed.body.alert_id}`);
    expect(changedStatus.body).toMatchObject({ severity: 'critical', title: 'Essai de sirène', drill: true });
    expect(changedStatus.body.recipients.map((r: { user_id: string }) => r.user_id)).toEqual([carol.userId]);

    // Replaced, then removed.
    expect((await sender.api.put(`${V1}/alert_templates/essai-sirene`, { title: 'Essai', body: 'Essai.', severity: 'info' })).status).toBe(200);
    expect((await sender.api.get(`${V1}/alert_templates/essai-sirene`)).body.alert).toEqual({ title: 'Essai', body: 'Essai.', severity: 'info' });
    // Without an audience in the template, the request must bring one.
    const noAudience = await sender.api.post(`${V1}/alerts`, { template: 'essai-sirene' });
    expect(noAudience.status).toBe(400);
    expect(noAudience.body.errcode).toBe('M_BAD_JSON');
    expect(noAudience.body.error).toMatch(/audience/);
    const removed = await sender.api.delete(`${V1}/alert_templates/essai-sirene`);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect((await sender.api.get(`${V1}/alert_templates/essai-sirene`)).body.errcode).toBe('M_NOT_FOUND');
    expect((await sender.api.delete(`${V1}/alert_templates/essai-sirene`)).body.errcode).toBe('M_NOT_FOUND');
  });

  it('refuses bad templates, unknown ones, and people who may not send alerts', async () => {
    const bad = [
      {},
      { severity: 'apocalyptic' },
      { title: 'x'.repeat(500) },
      { audience: 'everyone' },
      { escalation: [{ after_s: -5, channels: ['pigeon'] }] },
    ];
    for (const body of bad) {
      const res = await sender.api.put(`${V1}/alert_templates/mauvais`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.errcode).toBe('M_BAD_JSON');
    }
    for (const name of ['Upper', 'with space', '-dash', 'x'.repeat(65), 'a/b']) {
      const res = await sender.api.put(`${V1}/alert_templates/${encodeURIComponent(name)}`, { title: 'T' });
      expect(res.status, name).toBe(400);
    }
    const unknown = await sender.api.post(`${V1}/alerts`, { template: 'inconnu', audience: [bob.userId] });
    expect(unknown.status).toBe(404);
    expect(unknown.body.errcode).toBe('M_NOT_FOUND');
    // An ordinary user can neither see, write, nor send templates.
    expect((await sender.api.put(`${V1}/alert_templates/crue`, { title: 'Crue', body: 'Montée des eaux.', severity: 'warning' })).status).toBe(200);
    expect((await bob.api.get(`${V1}/alert_templates`)).status).toBe(403);
    expect((await bob.api.get(`${V1}/alert_templates/crue`)).status).toBe(403);
    expect((await bob.api.put(`${V1}/alert_templates/crue`, { title: 'Piraté' })).status).toBe(403);
    expect((await bob.api.delete(`${V1}/alert_templates/crue`)).status).toBe(403);
    const sent = await bob.api.post(`${V1}/alerts`, { template: 'crue', audience: [carol.userId] });
    expect(sent.status).toBe(403);
    expect((await sender.api.get(`${V1}/alert_templates/crue`)).body.alert.title).toBe('Crue');
  });
});
