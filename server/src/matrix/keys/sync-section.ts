import type { Knex } from 'knex';
import * as deviceLists from '../../storage/device-lists.ts';
import type { E2eeOverview } from '../../storage/e2ee-sync.ts';
import * as toDeviceRepo from '../../storage/to-device.ts';

export interface E2eeSyncSection {
  /** Nothing new for the device: an incremental sync may keep waiting. */
  empty: boolean;
  fields: {
    to_device: { events: Array<Record<string, unknown>> };
    device_lists: { changed: string[]; left: string[] };
    device_one_time_keys_count: Record<string, number>;
    device_unused_fallback_key_types: string[];
  };
}

/**
 * The end-to-end encryption part of a /sync response for one device, between `since`
 * (undefined for an initial sync) and `upTo`, from the overview that the sync's rooms query
 * read (storage/e2ee-sync.ts): the messages and the changed users are read only when it flags
 * some. Syncing from `since` acknowledges the to-device messages up to it, which are then deleted.
 */
export async function e2eeSyncSection(
  db: Knex,
  userId: string,
  deviceId: string,
  since: number | undefined,
  upTo: number,
  o: E2eeOverview,
): Promise<E2eeSyncSection> {
  const after = since ?? -1;
  if (o.hasAcknowledged && since !== undefined) await toDeviceRepo.deleteUpTo(db, userId, deviceId, since);
  const messages = o.hasToDevice ? await toDeviceRepo.messagesFor(db, userId, deviceId, after, upTo) : [];
  // An initial sync carries no device-list changes: the client queries the keys it needs.
  // Without device-list changes nor membership moves in the window the delta is empty.
  const lists =
    since !== undefined && (o.hasDeviceListChanges || o.membersMoved) ? await deviceLists.deviceListDelta(db, userId, since, upTo) : { changed: [], left: [] };
  return {
    empty: messages.length === 0 && lists.changed.length === 0 && lists.left.length === 0,
    fields: {
      to_device: { events: messages.map((m) => ({ sender: m.sender, type: m.type, content: m.content })) },
      device_lists: lists,
      device_one_time_keys_count: o.oneTimeKeyCounts,
      device_unused_fallback_key_types: o.unusedFallbackTypes,
    },
  };
}
