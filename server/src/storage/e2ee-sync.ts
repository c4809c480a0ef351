import type { Knex } from 'knex';

export interface E2eeOverview {
  oneTimeKeyCounts: Record<string, number>;
  unusedFallbackTypes: string[];
  /** To-device messages for the device in (after, upTo]. */
  hasToDevice: boolean;
  /** Messages at or below `after` still stored: the device acknowledged them. */
  hasAcknowledged: boolean;
  /** Device-list changes in (after, upTo] of the user or of users sharing a room with them. */
  hasDeviceListChanges: boolean;
}

/**
 * What a /sync needs to know about end-to-end encryption, in one round trip: it runs on every
 * wake-up of a long poll, so the details (messages, changed users) are read only when flagged.
 */
export async function e2eeOverview(db: Knex, userId: string, deviceId: string, after: number, upTo: number): Promise<E2eeOverview> {
  const result = await db.raw(
    `SELECT
       (SELECT json_object_agg(algorithm, n) FROM (
          SELECT algorithm, count(*) AS n FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm) c) AS counts,
       (SELECT json_agg(algorithm) FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND NOT used) AS fallback,
       EXISTS (SELECT 1 FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream_pos > ? AND stream_pos <= ?) AS has_to_device,
       (? >= 0 AND EXISTS (SELECT 1 FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream_pos <= ?)) AS has_acknowledged,
       (? >= 0 AND EXISTS (
          SELECT 1 FROM device_list_changes d WHERE d.stream_pos > ? AND d.stream_pos <= ?
            AND (d.user_id = ? OR EXISTS (
              SELECT 1 FROM memberships a JOIN memberships b ON b.room_id = a.room_id
              WHERE a.user_id = ? AND a.membership = 'join' AND b.user_id = d.user_id AND b.membership = 'join')))) AS has_device_list_changes`,
    [userId, deviceId, userId, deviceId, userId, deviceId, after, upTo, after, userId, deviceId, after, after, after, upTo, userId, userId],
  );
  const row = result.rows[0] as { counts: unknown; fallback: unknown; has_to_device: boolean; has_acknowledged: boolean; has_device_list_changes: boolean };
  const parse = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
  const counts = (parse(row.counts) ?? {}) as Record<string, number | string>;
  return {
    oneTimeKeyCounts: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Number(v)])),
    unusedFallbackTypes: ((parse(row.fallback) ?? []) as string[]).sort(),
    hasToDevice: row.has_to_device,
    hasAcknowledged: row.has_acknowledged,
    hasDeviceListChanges: row.has_device_list_changes,
  };
}
