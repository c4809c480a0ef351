import type { Knex } from 'knex';
import * as membershipsRepo from '../../storage/memberships.ts';

/**
 * Room summaries: member counts and up to five "heroes", which clients use to name rooms that
 * have no name (direct chats above all).
 */
export async function roomSummaries(db: Knex, userId: string, roomIds: string[]): Promise<Map<string, Record<string, unknown>>> {
  const counts = await membershipsRepo.joinedRoomCounts(db, roomIds);
  const heroes = await membershipsRepo.heroesOf(db, roomIds, userId, 5);
  const out = new Map<string, Record<string, unknown>>();
  for (const r of roomIds) {
    const c = counts.get(r) ?? { joined: 0, invited: 0 };
    out.set(r, { 'm.heroes': heroes.get(r) ?? [], 'm.joined_member_count': c.joined, 'm.invited_member_count': c.invited });
  }
  return out;
}
