import type { Knex } from 'knex';
import { invalidParam } from '../../errors.ts';
import * as groupsRepo from '../../storage/groups.ts';
import * as rolesRepo from '../../storage/roles.ts';
import * as usersRepo from '../../storage/users.ts';

const GROUP_ID = /^[A-Za-z0-9._=-]{1,128}$/;

/** Groups of people (alert audiences); filled by hand now, by the directory sync later. */
export class GroupsService {
  readonly #db: Knex;

  constructor(db: Knex) {
    this.#db = db;
  }

  async set(groupId: string, displayName: string | null, members: string[]): Promise<void> {
    if (!GROUP_ID.test(groupId)) throw invalidParam('Group ids are 1-128 characters of A-Z a-z 0-9 . _ = -');
    const unique = [...new Set(members)];
    const known = await usersRepo.findUsers(this.#db, unique);
    const unknown = unique.filter((u) => !known.has(u));
    if (unknown.length > 0) throw invalidParam(`Unknown users: ${unknown.slice(0, 5).join(', ')}`);
    await this.#db.transaction(async (trx) => {
      await groupsRepo.upsertGroup(trx, groupId, displayName);
      await groupsRepo.setGroupMembers(trx, groupId, unique);
    });
  }

  list() {
    return groupsRepo.listGroups(this.#db);
  }
}

export class RolesService {
  readonly #db: Knex;

  constructor(db: Knex) {
    this.#db = db;
  }

  async set(userId: string, roles: rolesRepo.Role[]): Promise<void> {
    if (!(await usersRepo.findUser(this.#db, userId))) throw invalidParam('Unknown user.');
    await this.#db.transaction(async (trx) => {
      for (const role of ['alert_sender', 'exercise_coordinator', 'dpo'] as const) {
        if (roles.includes(role)) await rolesRepo.grantRole(trx, userId, role);
        else await rolesRepo.revokeRole(trx, userId, role);
      }
    });
  }
}
