import type { Knex } from 'knex';
import { forbidden, invalidParam } from '../../errors.ts';
import type { Requester } from '../../http/route.ts';
import * as repo from '../../storage/audience-search.ts';
import { resolveAudience } from './audience.ts';

export interface AudienceItem {
  /** What goes into an alert's audience: @user:srv, group:id or !room:srv. */
  id: string;
  kind: 'user' | 'group' | 'room';
  name: string | null;
  /** People it reaches (groups: members; rooms: joined members). */
  members?: number;
}

/**
 * The console's audience picker: users, directory groups and the sender's rooms matching a
 * few letters, and how many people a chosen audience reaches. Alert senders and
 * administrators only: it lists the directory, which others have no need to browse.
 */
export class AudienceSearch {
  readonly #db: Knex;
  readonly #serverName: string;
  readonly #canSend: (r: Requester) => Promise<boolean>;
  readonly #systemUsers: string[];
  readonly #isBridgeUser: (userId: string) => boolean;

  /**
   * `isBridgeUser`: a user an application service claims exclusively (a bridge's ghost, its
   * bot). Such accounts stand for people on another network, whom no alert channel reaches:
   * the picker does not offer them by name.
   */
  constructor(db: Knex, serverName: string, canSend: (r: Requester) => Promise<boolean>, systemUsers: string[], isBridgeUser: (userId: string) => boolean = () => false) {
    this.#db = db;
    this.#serverName = serverName;
    this.#canSend = canSend;
    this.#systemUsers = systemUsers;
    this.#isBridgeUser = isBridgeUser;
  }

  async #check(requester: Requester): Promise<void> {
    if (!(await this.#canSend(requester))) throw forbidden('Only alert senders and administrators may search audiences.');
  }

  async search(requester: Requester, q: string, limit: number): Promise<AudienceItem[]> {
    await this.#check(requester);
    if (q.length > 100) throw invalidParam('q: at most 100 characters.');
    const like = repo.likePattern(q.trim());
    const [groups, rooms, users] = await Promise.all([
      repo.searchGroups(this.#db, like, limit),
      repo.searchJoinedRooms(this.#db, requester.userId, like, limit),
      // Twice the limit: the bridges' ghosts are left out after the query (their namespaces
      // are regular expressions of the registration files, not something SQL can match).
      repo.searchUsers(this.#db, like, this.#systemUsers, limit * 2),
    ]);
    return [
      ...groups.map((g): AudienceItem => ({ id: `group:${g.group_id}`, kind: 'group', name: g.display_name, members: g.members })),
      ...rooms.map((r): AudienceItem => ({ id: r.room_id, kind: 'room', name: r.name, members: r.members })),
      ...users
        .filter((u) => !this.#isBridgeUser(u.user_id))
        .slice(0, limit)
        .map((u): AudienceItem => ({ id: u.user_id, kind: 'user', name: u.displayname })),
    ];
  }

  /** How many people an audience reaches, by the same rules as sending an alert. */
  async count(requester: Requester, audience: string[]): Promise<number> {
    await this.#check(requester);
    const users = await resolveAudience(this.#db, this.#serverName, requester.userId, audience);
    return users.filter((u) => !this.#systemUsers.includes(u)).length;
  }
}
