import type { Knex } from 'knex';
import { fromRow, type StoredEvent } from './events.ts';
import type { Membership } from './memberships.ts';

/** The state types a space hierarchy entry is made of (all with the empty state key). */
export const SUMMARY_TYPES = [
  'm.room.create',
  'm.room.join_rules',
  'm.room.history_visibility',
  'm.room.name',
  'm.room.topic',
  'm.room.canonical_alias',
  'm.room.avatar',
  'm.room.guest_access',
] as const;

/**
 * The current state a space hierarchy needs of some rooms, in one query: the summary events and
 * every `m.space.child` event (whatever its content; the service decides which are valid).
 * A room this server does not hold is absent from the map.
 */
export async function hierarchyStates(db: Knex, roomIds: string[]): Promise<Map<string, StoredEvent[]>> {
  const out = new Map<string, StoredEvent[]>();
  if (roomIds.length === 0) return out;
  const rows = await db('current_state as c')
    .join('events as e', 'e.event_id', 'c.event_id')
    .whereIn('c.room_id', roomIds)
    .where((q) => q.where((w) => w.whereIn('c.type', [...SUMMARY_TYPES]).where('c.state_key', '')).orWhere('c.type', 'm.space.child'))
    .select('c.room_id', 'e.stream_pos', 'e.json', 'e.redacted_by', 'e.sender_device', 'e.txn_id');
  for (const row of rows) {
    const list = out.get(row.room_id) ?? [];
    list.push(fromRow(row));
    out.set(row.room_id, list);
  }
  return out;
}

/**
 * Every membership a user has, forgotten rooms included: a ban must still count after the
 * banned user "forgot" the room.
 */
export async function membershipsByRoom(db: Knex, userId: string): Promise<Map<string, Membership>> {
  const rows: Array<{ room_id: string; membership: Membership }> = await db('memberships').where({ user_id: userId }).select('room_id', 'membership');
  return new Map(rows.map((r) => [r.room_id, r.membership]));
}
