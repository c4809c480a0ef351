import type { Knex } from 'knex';
import { forbidden, invalidParam } from '../../errors.ts';
import * as groupsRepo from '../../storage/groups.ts';
import * as membershipsRepo from '../../storage/memberships.ts';
import * as usersRepo from '../../storage/users.ts';

export const MAX_RECIPIENTS = 50_000;

/**
 * Turns an audience (`@user:srv`, `group:<id>`, `!room:srv`) into local, active user ids.
 * Users of other servers are refused (no federation: they cannot be reached), and a room's
 * members are only given to someone in that room.
 */
export async function resolveAudience(db: Knex, serverName: string, sender: string, audience: string[]): Promise<string[]> {
  const users = new Set<string>();
  const suffix = `:${serverName}`;
  for (const entry of audience) {
    if (entry.startsWith('@')) {
      if (!entry.endsWith(suffix)) throw invalidParam(`${entry} is not a user of this server.`);
      const user = await usersRepo.findUser(db, entry);
      if (!user || user.deactivated) throw invalidParam(`Unknown user ${entry}.`);
      users.add(entry);
    } else if (entry.startsWith('group:')) {
      const group = entry.slice('group:'.length);
      if (!(await groupsRepo.groupExists(db, group))) throw invalidParam(`Unknown group ${group}.`);
      for (const u of await groupsRepo.membersOfGroups(db, [group])) users.add(u);
    } else if (entry.startsWith('!')) {
      const mine = await membershipsRepo.membershipOf(db, entry, sender);
      if (mine?.membership !== 'join') throw forbidden(`You are not in room ${entry}.`);
      for (const m of await membershipsRepo.membersOfRoom(db, entry, ['join'])) users.add(m.user_id);
    } else {
      throw invalidParam(`Audience entries are @user:server, group:name or !room:server, not ${entry.slice(0, 64)}.`);
    }
    if (users.size > MAX_RECIPIENTS) throw invalidParam(`An alert may reach at most ${MAX_RECIPIENTS} people.`);
  }
  // Suspended people (disabled in the directory) get no alerts, whichever way they were named.
  const rows = await usersRepo.findUsers(db, [...users]);
  return [...users]
    .filter((u) => {
      const row = rows.get(u);
      return row !== undefined && !row.deactivated && !row.suspended;
    })
    .sort();
}
