import { describe, expect, it } from 'vitest';
import {
  expectSpecResponse,
  findSpecOperation,
  listSpecOperations,
  validateResponse,
} from '../support/spec-schemas.ts';

const ROOM = '!abc:localhost';
const ALICE = '@alice:localhost';

function messageEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: '$ev1',
    room_id: ROOM,
    type: 'm.room.message',
    sender: ALICE,
    origin_server_ts: 1_700_000_000_000,
    content: { msgtype: 'm.text', body: 'hello' },
    unsigned: { age: 12 },
    ...overrides,
  };
}

describe('spec-schemas helper', () => {
  it('accepts a correct /versions body', () => {
    const body = { versions: ['v1.11', 'v1.12'], unstable_features: { 'org.example.feature': true } };
    expect(validateResponse('GET', '/_matrix/client/versions', 200, body)).toEqual({ ok: true });
    expect(() => expectSpecResponse('GET', '/_matrix/client/versions', 200, body)).not.toThrow();
  });

  it('rejects a /versions body missing versions', () => {
    const result = validateResponse('GET', '/_matrix/client/versions', 200, { unstable_features: {} });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toMatch(/versions/);
    expect(() => expectSpecResponse('get', '/_matrix/client/versions', 200, {})).toThrow(
      /GET \/_matrix\/client\/versions \(HTTP 200\) does not match the Matrix spec/,
    );
  });

  it('accepts a /login 200 body', () => {
    const body = {
      user_id: ALICE,
      access_token: 'syt_abc',
      device_id: 'ABCDEFGH',
      expires_in_ms: 60_000,
      refresh_token: 'syr_def',
      well_known: { 'm.homeserver': { base_url: 'https://localhost' } },
    };
    expectSpecResponse('POST', '/_matrix/client/v3/login', 200, body);
    // Missing required access_token.
    expect(validateResponse('POST', '/_matrix/client/v3/login', 200, { user_id: ALICE, device_id: 'X' }).ok).toBe(
      false,
    );
  });

  it('validates /rooms/{roomId}/messages chunks', () => {
    const path = `/_matrix/client/v3/rooms/${ROOM}/messages?dir=b&limit=10`;
    const good = { start: 't1', end: 't0', chunk: [messageEvent()], state: [] };
    expectSpecResponse('GET', path, 200, good);
    // URL-encoded room IDs match too.
    expectSpecResponse('GET', `/_matrix/client/v3/rooms/${encodeURIComponent(ROOM)}/messages`, 200, good);

    const badChunk = { start: 't1', chunk: [{ type: 'm.room.message', content: {} }] };
    const result = validateResponse('GET', path, 200, badChunk);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toMatch(/chunk\/0/);

    const badSender = { start: 't1', chunk: [messageEvent({ sender: 'alice' })] };
    expect(validateResponse('GET', path, 200, badSender).ok).toBe(false);
    expect(validateResponse('GET', path, 200, { start: 't1', chunk: 'nope' }).ok).toBe(false);
    // mx-user-id format: passes the schema's "^@" pattern but has no server name.
    const noServer = validateResponse('GET', path, 200, { start: 't1', chunk: [messageEvent({ sender: '@alice' })] });
    expect(noServer.ok).toBe(false);
    if (!noServer.ok) expect(noServer.errors).toMatch(/mx-user-id/);
  });

  it('accepts a standard error body for a 403', () => {
    const body = { errcode: 'M_FORBIDDEN', error: 'x' };
    expect(validateResponse('GET', `/_matrix/client/v3/rooms/${ROOM}/messages`, 403, body)).toEqual({ ok: true });
    expect(validateResponse('POST', `/_matrix/client/v3/rooms/${ROOM}/invite`, 403, body)).toEqual({ ok: true });
    expect(validateResponse('POST', `/_matrix/client/v3/rooms/${ROOM}/invite`, 403, { error: 'x' }).ok).toBe(false);
  });

  it('accepts a sync response sample', () => {
    const body = {
      next_batch: 's72595_4483_1934',
      account_data: { events: [{ type: 'm.push_rules', content: { global: {} } }] },
      presence: { events: [{ type: 'm.presence', sender: ALICE, content: { presence: 'online' } }] },
      to_device: { events: [] },
      device_lists: { changed: [ALICE], left: [] },
      device_one_time_keys_count: { signed_curve25519: 20 },
      device_unused_fallback_key_types: ['signed_curve25519'],
      rooms: {
        join: {
          [ROOM]: {
            summary: { 'm.heroes': ['@bob:localhost'], 'm.joined_member_count': 2, 'm.invited_member_count': 0 },
            state: {
              events: [
                {
                  event_id: '$create',
                  type: 'm.room.create',
                  state_key: '',
                  sender: ALICE,
                  origin_server_ts: 1_700_000_000_000,
                  content: { room_version: '11' },
                },
              ],
            },
            timeline: {
              events: [
                {
                  event_id: '$msg',
                  type: 'm.room.message',
                  sender: ALICE,
                  origin_server_ts: 1_700_000_000_100,
                  content: { msgtype: 'm.text', body: 'hi' },
                  unsigned: { age: 5, transaction_id: 'txn1' },
                },
              ],
              limited: false,
              prev_batch: 't34-23535_0_0',
            },
            ephemeral: { events: [{ type: 'm.typing', content: { user_ids: [] } }] },
            account_data: { events: [] },
            unread_notifications: { highlight_count: 0, notification_count: 1 },
          },
        },
        invite: {
          '!invited:localhost': {
            invite_state: {
              events: [
                { type: 'm.room.member', state_key: ALICE, sender: '@bob:localhost', content: { membership: 'invite' } },
              ],
            },
          },
        },
        knock: {},
        leave: {},
      },
    };
    expectSpecResponse('GET', '/_matrix/client/v3/sync?since=s1&timeout=30000', 200, body);

    // A stripped state event without a sender is invalid.
    const broken = structuredClone(body) as typeof body;
    delete (broken.rooms.invite['!invited:localhost']!.invite_state.events[0] as { sender?: string }).sender;
    expect(validateResponse('GET', '/_matrix/client/v3/sync', 200, broken).ok).toBe(false);
  });

  it('reports unknown paths and methods as not in spec', () => {
    const unknown = validateResponse('GET', '/_matrix/client/v3/definitely/not/a/thing', 200, {});
    expect(unknown).toEqual({ ok: false, errors: expect.stringMatching(/^not in spec: GET /) });
    const wrongMethod = validateResponse('DELETE', '/_matrix/client/versions', 200, {});
    expect(wrongMethod.ok).toBe(false);
    if (!wrongMethod.ok) expect(wrongMethod.errors).toMatch(/^not in spec: DELETE .*GET \/_matrix\/client\/versions/);
    // Path parameters other than the state key must not be empty.
    expect(validateResponse('GET', '/_matrix/client/v3/profile', 200, {}).ok).toBe(false);
    expect(validateResponse('GET', '/_matrix/client/v3/profile/', 200, {}).ok).toBe(false);
    // v1-only endpoints are not served under v3.
    expect(validateResponse('GET', `/_matrix/client/v3/rooms/${ROOM}/hierarchy`, 200, {}).ok).toBe(false);
  });

  it('returns ok when the spec has no schema for the status code', () => {
    expect(validateResponse('GET', '/_matrix/client/versions', 500, 'whatever')).toEqual({ ok: true });
  });

  it('matches templated paths, preferring literal segments', () => {
    expect(findSpecOperation('GET', '/_matrix/client/v3/pushrules/')).toEqual({
      method: 'GET',
      path: '/_matrix/client/v3/pushrules/',
    });
    expect(findSpecOperation('GET', '/_matrix/client/v3/pushrules/global/override/.m.rule.master')).toEqual({
      method: 'GET',
      path: '/_matrix/client/v3/pushrules/global/{kind}/{ruleId}',
    });
    // Empty state key: trailing slash optional.
    expect(findSpecOperation('GET', `/_matrix/client/v3/rooms/${ROOM}/state/m.room.name`)?.path).toBe(
      '/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}',
    );
    expect(findSpecOperation('GET', `/_matrix/client/v3/rooms/${ROOM}/state/m.room.name/`)?.path).toBe(
      '/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}',
    );
    // r0 is an alias of the versioned endpoints.
    expect(findSpecOperation('GET', '/_matrix/client/r0/sync')?.path).toBe('/_matrix/client/v3/sync');
    expect(findSpecOperation('GET', '/.well-known/matrix/client')?.path).toBe('/.well-known/matrix/client');
  });

  it('lists all spec operations once', () => {
    const ops = listSpecOperations();
    expect(ops.length).toBeGreaterThan(150);
    const keys = ops.map((o) => `${o.method} ${o.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toContain('GET /_matrix/client/v3/sync');
    expect(keys).toContain('GET /_matrix/client/versions');
    expect(keys).toContain('POST /_matrix/client/v3/rooms/{roomId}/invite');
    expect(keys).toContain('GET /_matrix/client/v1/rooms/{roomId}/hierarchy');
    expect(keys.every((k) => /^(GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS) \//.test(k))).toBe(true);
    // Every listed operation maps back to itself.
    for (const op of ops) {
      const concrete = op.path.replace(/\{[^}]+\}/g, 'x');
      expect(findSpecOperation(op.method, concrete), concrete).toBeDefined();
    }
  });
});
