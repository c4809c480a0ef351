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
  /**
   * A membership of the user, or of someone in one of the user's joined rooms, changed in
   * (after, upTo]. With hasDeviceListChanges false, device_lists is then provably empty
   * (every part of storage/device-lists.ts deviceListDelta needs one of the two).
   */
  membersMoved: boolean;
}

/**
 * What a /sync needs to know about end-to-end encryption, as columns of one SELECT (sync folds
 * them into its rooms query, storage/sync-queries.ts): it runs on every wake-up of a long
 * poll, so the details (messages, changed users) are read only when flagged.
 * Parameters: e2eeOverviewParams, in this order.
 */
export const E2EE_OVERVIEW_COLUMNS = `
       (SELECT json_object_agg(algorithm, n) FROM (
          SELECT algorithm, count(*) AS n FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm) c) AS e2ee_counts,
       (SELECT json_agg(algorithm) FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND NOT used) AS e2ee_fallback,
       EXISTS (SELECT 1 FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream_pos > ? AND stream_pos <= ?) AS e2ee_has_to_device,
       (? >= 0 AND EXISTS (SELECT 1 FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream_pos <= ?)) AS e2ee_has_acknowledged,
       (? >= 0 AND EXISTS (
          SELECT 1 FROM device_list_changes d WHERE d.stream_pos > ? AND d.stream_pos <= ?
            AND (d.user_id = ? OR EXISTS (
              SELECT 1 FROM memberships a JOIN memberships b ON b.room_id = a.room_id
              WHERE a.user_id = ? AND a.membership = 'join' AND b.user_id = d.user_id AND b.membership = 'join')))) AS e2ee_has_device_list_changes,
       (? >= 0 AND (
          EXISTS (SELECT 1 FROM memberships mine WHERE mine.user_id = ? AND mine.stream_pos > ? AND mine.stream_pos <= ?)
          OR EXISTS (
            SELECT 1 FROM memberships mine JOIN memberships o ON o.room_id = mine.room_id
            WHERE mine.user_id = ? AND mine.membership = 'join' AND o.stream_pos > ? AND o.stream_pos <= ?))) AS e2ee_members_moved`;

export function e2eeOverviewParams(userId: string, deviceId: string, after: number, upTo: number): Array<string | number> {
  return [
    userId, deviceId,
    userId, deviceId,
    userId, deviceId, after, upTo,
    after, userId, deviceId, after,
    after, after, upTo, userId, userId,
    after, userId, after, upTo, userId, after, upTo,
  ];
}

export function e2eeOverviewFromRow(row: Record<string, unknown>): E2eeOverview {
  const parse = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
  const counts = (parse(row.e2ee_counts) ?? {}) as Record<string, number | string>;
  return {
    oneTimeKeyCounts: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Number(v)])),
    unusedFallbackTypes: ((parse(row.e2ee_fallback) ?? []) as string[]).sort(),
    hasToDevice: row.e2ee_has_to_device === true,
    hasAcknowledged: row.e2ee_has_acknowledged === true,
    hasDeviceListChanges: row.e2ee_has_device_list_changes === true,
    membersMoved: row.e2ee_members_moved === true,
  };
}

/** The overview alone, in one round trip. */
export async function e2eeOverview(db: Knex, userId: string, deviceId: string, after: number, upTo: number): Promise<E2eeOverview> {
  const result = await db.raw(`SELECT ${E2EE_OVERVIEW_COLUMNS}`, e2eeOverviewParams(userId, deviceId, after, upTo));
  return e2eeOverviewFromRow(result.rows[0] as Record<string, unknown>);
}
