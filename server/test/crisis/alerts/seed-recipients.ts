import type { Knex } from 'knex';
import { hashToken, newAccessToken } from '../../../src/matrix/auth/tokens.ts';

// Thousands of alert recipients written straight into the database (users, contacts, push
// subscriptions, one group holding them all), for the crash test and the fan-out benchmark:
// registering them through the API would cost minutes of argon2 and HTTP for nothing that is
// tested there. A few of them get an access token, to act through the API (acknowledge).
// For the embedded database, call it before the server starts (PGlite has one owner).

export interface SeedRecipient {
  userId: string;
  email: string;
  /** E.164 */
  phone: string;
  /** The push subscription's endpoint and keys (a fake browser's, or none). */
  push?: { endpoint: string; p256dh: string; auth: string };
}

export interface SeedOptions {
  serverName?: string;
  /** Directory group that holds every recipient (the alert's audience: `group:<id>`). */
  groupId: string;
  recipients: SeedRecipient[];
  /** Recipients that get an access token (by user id). */
  withTokens?: readonly string[];
  /** Localpart of a server admin (allowed to send alerts) who gets a token too. */
  adminLocalpart: string;
}

export interface Seeded {
  adminUserId: string;
  adminToken: string;
  tokens: Map<string, string>;
}

const CHUNK = 500;

async function insertChunks(db: Knex, table: string, rows: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) await db(table).insert(rows.slice(i, i + CHUNK));
}

export async function seedRecipients(db: Knex, o: SeedOptions): Promise<Seeded> {
  const serverName = o.serverName ?? 'localhost';
  const now = Date.now();
  const localpartOf = (userId: string) => userId.slice(1, userId.indexOf(':'));
  const adminUserId = `@${o.adminLocalpart}:${serverName}`;
  const tokens = new Map<string, string>();
  const adminToken = newAccessToken();
  await db.transaction(async (trx) => {
    await insertChunks(trx, 'users', [
      { user_id: adminUserId, localpart: o.adminLocalpart, password_hash: null, admin: true, displayname: 'Admin', avatar_url: null, created_ts: now },
      ...o.recipients.map((r) => ({ user_id: r.userId, localpart: localpartOf(r.userId), password_hash: null, admin: false, displayname: localpartOf(r.userId), avatar_url: null, created_ts: now })),
    ]);
    await insertChunks(
      trx,
      'user_contacts',
      o.recipients.map((r) => ({ user_id: r.userId, email: r.email, phone: r.phone, language: 'fr', source: 'admin', updated_ts: now })),
    );
    await insertChunks(
      trx,
      'push_subscriptions',
      o.recipients.filter((r) => r.push).map((r) => ({ user_id: r.userId, device_id: null, endpoint: r.push!.endpoint, p256dh: r.push!.p256dh, auth: r.push!.auth, created_ts: now })),
    );
    await trx('groups').insert({ group_id: o.groupId, display_name: o.groupId, source: 'local' });
    await insertChunks(trx, 'group_members', o.recipients.map((r) => ({ group_id: o.groupId, user_id: r.userId })));
    const sessions = [{ userId: adminUserId, token: adminToken }, ...(o.withTokens ?? []).map((userId) => ({ userId, token: newAccessToken() }))];
    for (const s of sessions) if (s.userId !== adminUserId) tokens.set(s.userId, s.token);
    await insertChunks(trx, 'devices', sessions.map((s) => ({ user_id: s.userId, device_id: 'SEEDED', display_name: null, created_ts: now })));
    await insertChunks(trx, 'access_tokens', sessions.map((s) => ({ token_hash: hashToken(s.token), user_id: s.userId, device_id: 'SEEDED', created_ts: now })));
  });
  return { adminUserId, adminToken, tokens };
}
