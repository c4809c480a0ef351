// Rate limits (RATE_LIMITS=on, the production default): password guessing and registration
// floods get 429 M_LIMIT_EXCEEDED with retry_after_ms and a Retry-After header.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllTestServers, startTestServer, type TestServer } from '../support/server.ts';
import { CallLog, SpecApi, V3, expectError, ok, registerSpecUser, type SpecUser } from '../support/spec-client.ts';

describe('rate limits', () => {
  let server: TestServer;
  const log = new CallLog();
  let anon: SpecApi;
  let victim: SpecUser;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMITS: 'on' });
    anon = new SpecApi(server.url, undefined, log);
    victim = await registerSpecUser(server.url, log, `victim${process.pid}`, 'victim-pw');
  });

  afterAll(async () => {
    await closeAllTestServers();
  });

  function expectLimited(res: { status: number; body: any; headers: Headers }): void {
    expectError(res, 429, 'M_LIMIT_EXCEEDED');
    expect(typeof res.body.retry_after_ms).toBe('number');
    expect(res.body.retry_after_ms).toBeGreaterThan(0);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  }

  // Requests of a burst go out together, so the buckets cannot refill between them however
  // slow the machine is.
  it('limits password guessing on /login, and the right password is limited too', async () => {
    const attempt = (password: string) =>
      anon.post(`${V3}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: victim.userId }, password });
    const guesses = await Promise.all(Array.from({ length: 12 }, (_v, i) => attempt(`guess-${i}`)));
    for (const res of guesses) if (res.status !== 429) expectError(res, 403, 'M_FORBIDDEN');
    const limited = guesses.filter((r) => r.status === 429);
    expect(limited.length, guesses.map((r) => r.status).join(',')).toBeGreaterThan(0);
    for (const res of limited) expectLimited(res);
    // While limited, the right password waits too: guessing cannot go on in the background.
    const rightOnes = await Promise.all(Array.from({ length: 6 }, () => attempt('victim-pw')));
    expect(rightOnes.filter((r) => r.status === 429).length, rightOnes.map((r) => r.status).join(',')).toBeGreaterThan(0);
    for (const res of rightOnes) if (res.status === 429) expectLimited(res);
    // The victim's existing session is untouched.
    ok(await victim.api.get(`${V3}/account/whoami`));
  });

  it('limits registration floods', async () => {
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_v, i) => anon.post(`${V3}/register`, { username: `flood${process.pid}x${i}`, password: 'x', auth: { type: 'm.login.dummy' } })),
    );
    const statuses = replies.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 429), statuses.join(',')).toBe(true);
    const limited = replies.find((r) => r.status === 429);
    expect(limited, statuses.join(',')).toBeDefined();
    expectLimited(limited!);
  });
});
