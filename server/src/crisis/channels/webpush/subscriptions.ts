import { ECDH } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';

// Browsers' push subscriptions (table push_subscriptions, migration 002): what the PWA posts
// to /_tocsin/v1/push/subscriptions, validated here, and the queries of the web push channel.

export const MAX_SUBSCRIPTIONS_PER_USER = 10;

export interface PushSubscriptionRow {
  id: number;
  user_id: string;
  device_id: string | null;
  endpoint: string;
  p256dh: string;
  auth: string;
  created_ts: number;
}

export interface ValidPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

const base64url = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9_-]+=*$/, 'must be base64url')
  .transform((s) => s.replace(/=+$/, ''));

function isP256Point(key: string): boolean {
  const bytes = Buffer.from(key, 'base64url');
  if (bytes.length !== 65 || bytes[0] !== 0x04) return false;
  try {
    ECDH.convertKey(bytes, 'prime256v1');
    return true;
  } catch {
    return false;
  }
}

/**
 * The schema of a browser's PushSubscription JSON. Endpoints must be https; plain http only
 * for the hosts listed (a local push service in tests).
 */
export function pushSubscriptionSchema(options: { allowHttpHosts?: readonly string[] } = {}) {
  const httpHosts = new Set(options.allowHttpHosts ?? []);
  return z.object({
    endpoint: z
      .string()
      .max(2048)
      .refine((value) => {
        try {
          const url = new URL(value);
          if (url.username || url.password) return false;
          return url.protocol === 'https:' || (url.protocol === 'http:' && httpHosts.has(url.hostname));
        } catch {
          return false;
        }
      }, 'must be an https URL'),
    expirationTime: z.number().nullable().optional(),
    keys: z.object({
      p256dh: base64url.refine(isP256Point, 'must be an uncompressed P-256 public key (65 bytes)'),
      auth: base64url.refine((k) => Buffer.from(k, 'base64url').length === 16, 'must be 16 bytes'),
    }),
  });
}

/** Validates the JSON a browser sent; throws a ZodError naming the bad field. */
export function parsePushSubscription(json: unknown, options: { allowHttpHosts?: readonly string[] } = {}): ValidPushSubscription {
  const s = pushSubscriptionSchema(options).parse(json);
  return { endpoint: s.endpoint, keys: { p256dh: s.keys.p256dh, auth: s.keys.auth } };
}

/**
 * Adds a subscription, or replaces the one with the same endpoint (a browser renews its keys,
 * or another user logs in on it: the endpoint then belongs to the newest user). A user keeps
 * at most MAX_SUBSCRIPTIONS_PER_USER: the oldest go.
 */
export async function addPushSubscription(
  db: Knex,
  userId: string,
  subscription: ValidPushSubscription,
  options: { deviceId?: string | undefined; now?: number; max?: number } = {},
): Promise<void> {
  const max = options.max ?? MAX_SUBSCRIPTIONS_PER_USER;
  const row = {
    user_id: userId,
    device_id: options.deviceId ?? null,
    endpoint: subscription.endpoint,
    p256dh: subscription.keys.p256dh,
    auth: subscription.keys.auth,
    created_ts: options.now ?? Date.now(),
  };
  await db.transaction(async (trx) => {
    // One writer per user at a time, so that two browsers subscribing at once cannot both
    // keep their count under the cap.
    await trx('users').where({ user_id: userId }).forUpdate().select('user_id');
    await trx('push_subscriptions').insert(row).onConflict('endpoint').merge(['user_id', 'device_id', 'p256dh', 'auth', 'created_ts']);
    const keep = trx('push_subscriptions').select('id').where({ user_id: userId }).orderBy([{ column: 'created_ts', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(max);
    await trx('push_subscriptions').where({ user_id: userId }).whereNotIn('id', keep).delete();
  });
}

export async function listPushSubscriptions(db: Knex, userId: string): Promise<PushSubscriptionRow[]> {
  return db('push_subscriptions').where({ user_id: userId }).orderBy('id');
}

/** The subscriptions of many users in one query (a fan-out asks for thousands at once). */
export async function listPushSubscriptionsOf(db: Knex, userIds: readonly string[]): Promise<PushSubscriptionRow[]> {
  if (userIds.length === 0) return [];
  return db('push_subscriptions').whereIn('user_id', userIds).orderBy('id');
}

export async function removePushSubscription(db: Knex, endpoint: string): Promise<boolean> {
  // returning() rather than the affected count: knex-pglite does not report the count.
  const deleted: unknown[] = await db('push_subscriptions').where({ endpoint }).delete().returning('id');
  return deleted.length > 0;
}
