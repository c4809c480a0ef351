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
    await contactsRepo.upsertContacts(this.#s.db, {
      user_id: userId,
      email: attrs.email,
      phone: attrs.phone,
      language: attrs.language,
      source,
      updated_ts: Date.now(),
    });
  }

  /** Disabled in the directory: no login, no alerts, every device out; memberships are kept. */
  async suspend(userId: string, why: string): Promise<void> {
    await directoryRepo.setSuspended(this.#s.db, userId, true);
    await this.#s.accounts.removeDevices(userId, 'all');
    await directoryRepo.deletePushSubscriptions(this.#s.db, userId, 'all');
    this.#log.info({ audit: 'directory.suspend', subject: userId, why }, 'account suspended');
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
    this.#log.info({ audit: 'directory.deprovision', subject: userId, reason }, 'account deprovisioned');
  }

  /** Adds and removes group members, and joins or leaves the rooms the group opens. */
  async changeGroup(source: Source, groupId: string, displayName: string | null, added: string[], removed: string[]): Promise<string[]> {
    const { db } = this.#s;
    const errors: string[] = [];
    await directoryRepo.upsertSourcedGroup(db, groupId, displayName, source);
    await directoryRepo.addGroupMembers(db, groupId, added);
    await directoryRepo.removeGroupMembers(db, groupId, removed);
    const rooms = this.#rooms.get(groupId) ?? (displayName ? this.#rooms.get(displayName) : undefined) ?? [];
    for (const room of rooms) {
      for (const userId of added) {
        const err = await this.#enterRoom(userId, room);
        if (err) errors.push(err);
      }
      for (const userId of removed) {
        if (await this.#roomStillGranted(userId, room, groupId)) continue;
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

  async #roomStillGranted(userId: string, room: string, leavingGroup: string): Promise<boolean> {
    const account = await directoryRepo.findAccount(this.#s.db, userId);
    const groups = account?.attributes.groups ?? [];
    return groups.some((g) => g !== leavingGroup && (this.#rooms.get(g) ?? []).includes(room));
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
