// TURN credentials: time-limited ones from the shared secret coturn checks, or none.
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { voipRoutes } from '../../../src/matrix/voip/routes.ts';
import { closeAllTestServers, startTestServer } from '../../support/server.ts';
import { CallLog, V3, ok, registerSpecUser } from '../../support/spec-client.ts';

describe('voip routes', () => {
  const log = new CallLog();

  afterAll(async () => {
    await closeAllTestServers();
  });

  it('gives TURN REST credentials that verify with the shared secret', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-voip-'));
    const file = path.join(dir, 'tocsin.yaml');
    writeFileSync(path.join(dir, 'turn'), 's3cret\n');
    writeFileSync(file, `voip:\n  turn_uris: ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]\n  turn_shared_secret_file: ${path.join(dir, 'turn')}\n  turn_user_lifetime_s: 3600\n`);
    const server = await startTestServer({ TOCSIN_CONFIG: file });
    const user = await registerSpecUser(server.url, log);
    const turn = ok(await user.api.get(`${V3}/voip/turnServer`));
    expect(turn.uris).toEqual(['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349']);
    expect(turn.ttl).toBe(3600);
    const [expiry, who] = turn.username.split(/:(.*)/s);
    expect(who).toBe(user.userId);
    expect(Number(expiry) * 1000).toBeGreaterThan(Date.now());
    expect(turn.password).toBe(createHmac('sha1', 's3cret').update(turn.username).digest('base64'));
    log.expectRoutesCovered(voipRoutes(server.services));
  });

  it('answers {} when no TURN server is configured', async () => {
    const server = await startTestServer();
    const user = await registerSpecUser(server.url, log);
    // `{}` is what Synapse answers and clients expect; the spec's schema wants the fields of a
    // configured server, so this one call is checked off-spec.
    const res = await user.api.call('GET', `${V3}/voip/turnServer`, { offSpec: true });
    expect(ok(res)).toEqual({});
  });
});
