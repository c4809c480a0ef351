import { recordAudit } from '../../audit/audit-log.ts';
import { userInUse } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { validateLocalpart, userIdOf } from '../../matrix/auth/user-ids.ts';
import * as membership from '../../matrix/rooms/membership.ts';
import type { Services } from '../../services.ts';
import * as contactsRepo from '../../storage/contacts.ts';
import * as directoryRepo from '../../storage/directory.ts';
import type { DirectoryAttributes } from '../../storage/directory.ts';
import * as membershipsRepo from '../../storage/memberships.ts';
import * as roomsRepo from '../../storage/rooms.ts';
import * as usersRepo from '../../storage/users.ts';

export type Source = 'ldap' | 'scim';

/**
 * The account lifecycle shared by LDAP and SCIM: provision, update, suspend, reactivate,
 * deprovision, and group membership with the rooms that groups open.
 */
export class DirectoryLifecycle {
  readonly #s: Services;
  readonly #log: Logger;
  /** Directory group id -> rooms (ids or aliases) its members join. */
  readonly #rooms: Map<string, string[]>;

  constructor(s: Services, log: Logger, rooms: Record<string, string[]>) {
    this.#s = s;
    this.#log = log;
    this.#rooms = new Map(Object.entries(rooms));
  }

  /** The user id for a directory login, or undefined when it cannot be a Matrix user name. */
  userIdOf(login: string): string | undefined {
    try {
      validateLocalpart(login, this.#s.config.serverName);
      return userIdOf(login, this.#s.config.serverName);
    } catch {
      return undefined;
    }
  }

  async provision(source: Source, externalId: string, userId: string, attrs: DirectoryAttributes, scimExternalId?: string | null): Promise<void> {
    const { db } = this.#s;
    const created = await usersRepo.insertUser(db, {
      user_id: userId,
      localpart: userId.slice(1, userId.indexOf(':')),
      password_hash: null,
      admin: false,
      displayname: attrs.displayName ?? userId.slice(1, userId.indexOf(':')),
      avatar_url: null,
      created_ts: Date.now(),
      origin: source,
    });
    if (!created) throw userInUse();
    await directoryRepo.upsertAccount(db, { user_id: userId, source, external_id: externalId, disabled: false, attributes: attrs, ...(scimExternalId !== undefined ? { scim_external_id: scimExternalId } : {}) });
    await this.#writeContacts(userId, attrs, source);
    this.#log.info({ audit: 'directory.provision', source, subject: userId }, 'account provisioned from the directory');
  }

  /**
   * provision() for many people in one transaction (the sync passes batches of a few hundred):
   * one statement each for the accounts, their directory rows and their contacts. Directory
   * accounts have no local password, so no hash is computed. Returns one line per person who
   * could not be created (a local account already has the name).
   */
  async provisionMany(source: Source, people: Array<{ externalId: string; userId: string; attrs: DirectoryAttributes }>): Promise<string[]> {
    if (people.length === 0) return [];
    const now = Date.now();
    const created = await this.#s.db.transaction(async (trx) => {
      const inserted = await usersRepo.insertUsers(
        trx,
        people.map((p) => {
          const localpart = p.userId.slice(1, p.userId.indexOf(':'));
          return { user_id: p.userId, localpart, password_hash: null, admin: false, displayname: p.attrs.displayName ?? localpart, avatar_url: null, created_ts: now, origin: source };
        }),
      );
      const mine = people.filter((p) => inserted.has(p.userId));
      await directoryRepo.upsertAccounts(trx, mine.map((p) => ({ user_id: p.userId, source, external_id: p.externalId, disabled: false, attributes: p.attrs })));
      await contactsRepo.upsertManyContacts(trx, mine.map((p) => contactRow(p.userId, p.attrs, source, now)));
      return mine.map((p) => p.userId);
    });
    if (created.length > 0) this.#log.info({ audit: 'directory.provision', source, subjects: created }, `${created.length} accounts provisioned from the directory`);
    const done = new Set(created);
    return people.filter((p) => !done.has(p.userId)).map((p) => `create ${p.userId}: User ID already taken.`);
  }

  /**
   * update() for many people whose changed fields are known (the sync's plan): one transaction
   * for the rows, then the new names go into their rooms (member events, one user at a time).
   */
  async updateMany(source: Source, people: Array<{ externalId: string; userId: string; attrs: DirectoryAttributes; renamed: boolean }>): Promise<void> {
    if (people.length === 0) return;
    const now = Date.now();
    const renamed = people.filter((p) => p.renamed && p.attrs.displayName);
    await this.#s.db.transaction(async (trx) => {
      await directoryRepo.upsertAccounts(trx, people.map((p) => ({ user_id: p.userId, source, external_id: p.externalId, disabled: false, attributes: p.attrs })));
      await usersRepo.setDisplayNames(trx, renamed.map((p) => ({ user_id: p.userId, displayname: p.attrs.displayName! })));
      await contactsRepo.upsertManyContacts(trx, people.map((p) => contactRow(p.userId, p.attrs, source, now)));
    });
    for (const p of renamed) await membership.refreshProfileInRooms(this.#s.rooms, p.userId);
  }

  /** Profile and channel addresses follow the directory. */
  async update(source: Source, externalId: string, userId: string, attrs: DirectoryAttributes, disabled: boolean, scimExternalId?: string | null): Promise<void> {
    const { db } = this.#s;
    const before = await directoryRepo.findAccount(db, userId);
    await directoryRepo.upsertAccount(db, { user_id: userId, source, external_id: externalId, disabled, attributes: attrs, ...(scimExternalId !== undefined ? { scim_external_id: scimExternalId } : {}) });
    if (before?.attributes.displayName !== attrs.displayName && attrs.displayName) {
      await usersRepo.setProfileFields(db, userId, { displayname: attrs.displayName });
      await membership.refreshProfileInRooms(this.#s.rooms, userId);
    }
    await this.#writeContacts(userId, attrs, source);
  }

  async #writeContacts(userId: string, attrs: DirectoryAttributes, source: Source): Promise<void> {
    await contactsRepo.upsertContacts(this.#s.db, contactRow(userId, attrs, source, Date.now()));
  }

  /** Disabled in the directory: no login, no alerts, every device out; memberships are kept. */
  async suspend(userId: string, why: string): Promise<void> {
    await directoryRepo.setSuspended(this.#s.db, userId, true);
    await this.#s.accounts.removeDevices(userId, 'all');
    await directoryRepo.deletePushSubscriptions(this.#s.db, userId, 'all');
    // Every device revoked: an audit entry, as for an administrator's revocation.
    await recordAudit(this.#s.db, this.#log, { actor: 'directory', action: 'directory.suspend', target_user: userId, details: { why, devices: 'all' } });
  }

  async reactivate(userId: string): Promise<void> {
    await directoryRepo.reactivateUser(this.#s.db, userId);
    this.#log.info({ audit: 'directory.reactivate', subject: userId }, 'account reactivated');
  }

  /**
   * Gone from the directory: account deactivated, out of every room (with a reason) and every
   * audience, every device logged out. What they wrote stays, under the archive's rules.
   */
  async deprovision(userId: string, reason: string): Promise<void> {
    const { db } = this.#s;
    await this.#s.accounts.deactivate(userId);
    await directoryRepo.setSuspended(db, userId, false);
    await directoryRepo.removeFromAllGroups(db, userId);
    await directoryRepo.deletePushSubscriptions(db, userId, 'all');
    for (const roomId of await membership.roomsWith(this.#s.rooms, userId, ['join', 'invite'])) {
      await membership.leave(this.#s.rooms, userId, roomId, reason).catch((err: unknown) => this.#log.warn({ err, roomId, userId }, 'leave on deprovisioning failed'));
    }
    await recordAudit(this.#s.db, this.#log, { actor: 'directory', action: 'directory.deprovision', target_user: userId, details: { reason, devices: 'all' } });
  }

  /** Adds and removes group members, and joins or leaves the rooms the group opens. */
  async changeGroup(source: Source, groupId: string, displayName: string | null, added: string[], removed: string[]): Promise<string[]> {
    const { db } = this.#s;
    const errors: string[] = [];
    await directoryRepo.upsertSourcedGroup(db, groupId, displayName, source);
    await directoryRepo.addGroupMembers(db, groupId, added);
    await directoryRepo.removeGroupMembers(db, groupId, removed);
    const rooms = this.#rooms.get(groupId) ?? (displayName ? this.#rooms.get(displayName) : undefined) ?? [];
    if (rooms.length === 0) return errors;
    // What the removed members' other groups still open: one read for all of them.
    const groupsOfRemoved = await directoryRepo.groupsOfAccounts(db, removed);
    for (const room of rooms) {
      errors.push(...(await this.#enterRoomMany(added, room)));
      for (const userId of removed) {
        if ((groupsOfRemoved.get(userId) ?? []).some((g) => g !== groupId && (this.#rooms.get(g) ?? []).includes(room))) continue;
        try {
          const roomId = await membership.resolveRoom(this.#s.rooms, room);
          const current = await membershipsRepo.membershipOf(db, roomId, userId);
          if (current?.membership === 'join' || current?.membership === 'invite') await membership.leave(this.#s.rooms, userId, roomId, `No longer in directory group ${displayName ?? groupId}`);
        } catch (err) {
          errors.push(`${userId} leaving ${room}: ${(err as Error).message}`);
        }
      }
    }
    return errors;
  }

  /** Every room the user's groups open, joined if not already (after a reactivation, say). */
  async enterRoomsOfGroups(userId: string, groups: string[]): Promise<string[]> {
    const errors: string[] = [];
    for (const g of groups) for (const room of this.#rooms.get(g) ?? []) {
      const err = await this.#enterRoom(userId, room);
      if (err) errors.push(err);
    }
    return errors;
  }

  /**
   * Many users join one room in a few transactions (membership.joinMany, invited by the room's
   * creator when the room needs it); a join refused there is tried again alone by #enterRoom,
   * which says why.
   */
  async #enterRoomMany(userIds: string[], room: string): Promise<string[]> {
    if (userIds.length === 0) return [];
    const ctx = this.#s.rooms;
    let failed: string[];
    try {
      const roomId = await membership.resolveRoom(ctx, room);
      const found = await roomsRepo.findRoom(ctx.db, roomId);
      failed = [...(await membership.joinMany(ctx, roomId, userIds, { ...(found ? { inviter: found.creator } : {}), reason: 'Directory group membership' })).keys()];
    } catch {
      failed = userIds;
    }
    const errors: string[] = [];
    for (const userId of failed) {
      const err = await this.#enterRoom(userId, room);
      if (err) errors.push(err);
    }
    return errors;
  }

  /** Joins a room; a room that needs an invite gets one from its creator first. */
  async #enterRoom(userId: string, room: string): Promise<string | undefined> {
    const ctx = this.#s.rooms;
    try {
      const roomId = await membership.resolveRoom(ctx, room);
      const current = await membershipsRepo.membershipOf(ctx.db, roomId, userId);
      if (current?.membership === 'join') return undefined;
      if (current?.membership !== 'invite') {
        const found = await roomsRepo.findRoom(ctx.db, roomId);
        try {
          if (found) await membership.invite(ctx, found.creator, roomId, userId, 'Directory group membership');
        } catch {
          // A public room needs no invite; the join below says whether it worked.
        }
      }
      await membership.join(ctx, userId, roomId, 'Directory group membership');
      return undefined;
    } catch (err) {
      this.#log.warn({ err, userId, room }, 'directory: could not join a room');
      return `${userId} joining ${room}: ${(err as Error).message}`;
    }
  }
}

function contactRow(userId: string, attrs: DirectoryAttributes, source: Source, now: number): contactsRepo.ContactRow {
  return { user_id: userId, email: attrs.email, phone: attrs.phone, language: attrs.language, source, updated_ts: now };
}
