import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { MatrixError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import * as directoryRepo from '../../storage/directory.ts';
import type { DirectoryAttributes, KnownAccount } from '../../storage/directory.ts';
import * as usersRepo from '../../storage/users.ts';
import { E164 } from './contacts-service.ts';
import type { DirectoryLifecycle } from './lifecycle.ts';
import { groupIdOf, phoneToE164 } from './ldap-source.ts';

// SCIM 2.0 (RFC 7643 resources, RFC 7644 protocol) over the same lifecycle as LDAP. Errors are
// SCIM errors, which also carry errcode/error so that every answer of Tocsin reads alike.
export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export class ScimError extends MatrixError {
  constructor(status: number, detail: string, scimType?: string) {
    super(status, status === 404 ? 'M_NOT_FOUND' : status === 409 ? 'M_USER_IN_USE' : status === 401 ? 'M_UNKNOWN_TOKEN' : 'M_INVALID_PARAM', detail, {
      schemas: [ERROR_SCHEMA],
      status: String(status),
      detail,
      ...(scimType ? { scimType } : {}),
    });
  }
}

type Json = Record<string, unknown>;

interface UserFields {
  userName?: string;
  externalId?: string | null;
  displayName?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  email?: string | null;
  phone?: string | null;
  language?: string | null;
  timeZone?: string | null;
  active?: boolean;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim().slice(0, 255) : null);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : typeof v === 'string' && /^(true|false)$/i.test(v) ? v.toLowerCase() === 'true' : undefined);

function pickMulti(list: unknown, type: string): string | null {
  if (!Array.isArray(list)) return null;
  const items = list.filter((x): x is Json => x !== null && typeof x === 'object');
  const chosen = items.find((x) => x.primary === true) ?? items.find((x) => x.type === type) ?? items[0];
  return chosen ? str(chosen.value) : null;
}

/** The fields of a full SCIM User body (POST, PUT). */
function fieldsOfUser(body: Json): UserFields {
  const name = (body.name ?? {}) as Json;
  const out: UserFields = {
    displayName: str(body.displayName) ?? str(name.formatted) ?? ([str(name.givenName), str(name.familyName)].filter(Boolean).join(' ') || null),
    givenName: str(name.givenName),
    familyName: str(name.familyName),
    email: pickMulti(body.emails, 'work'),
    phone: pickMulti(body.phoneNumbers, 'mobile'),
    language: str(body.preferredLanguage),
    timeZone: str(body.timezone),
    externalId: str(body.externalId),
  };
  if (typeof body.userName === 'string') out.userName = body.userName;
  const active = bool(body.active);
  if (active !== undefined) out.active = active;
  return out;
}

/** "alice@contoso.com" (Entra's UPN, Okta's login) -> "alice"; Matrix refuses the rest. */
export function localpartOfUserName(userName: string): string {
  return userName.trim().toLowerCase().split('@')[0]!;
}

export class ScimService {
  readonly #db: Knex;
  readonly #lifecycle: DirectoryLifecycle;
  readonly #log: Logger;
  readonly #baseUrl: string;
  readonly #country: string | undefined;

  constructor(deps: { db: Knex; lifecycle: DirectoryLifecycle; log: Logger; baseUrl: string; defaultCountryCode?: string | undefined }) {
    this.#db = deps.db;
    this.#lifecycle = deps.lifecycle;
    this.#log = deps.log;
    this.#baseUrl = `${deps.baseUrl}/_tocsin/scim/v2`;
    this.#country = deps.defaultCountryCode;
  }

  #attrs(f: UserFields, before?: DirectoryAttributes & { givenName?: string | null; familyName?: string | null }): DirectoryAttributes & { givenName: string | null; familyName: string | null } {
    const phone = f.phone === undefined ? (before?.phone ?? null) : f.phone === null ? null : E164.test(f.phone) ? f.phone : phoneToE164(f.phone, this.#country);
    if (f.phone && !phone) throw new ScimError(400, `phoneNumbers: "${f.phone}" is not an international (E.164) number`, 'invalidValue');
    const email = f.email === undefined ? (before?.email ?? null) : f.email?.toLowerCase() ?? null;
    if (email !== null && !/^[^\s@]+@[^\s@]+$/.test(email)) throw new ScimError(400, 'emails: not an email address', 'invalidValue');
    return {
      displayName: f.displayName === undefined ? (before?.displayName ?? null) : f.displayName,
      givenName: f.givenName === undefined ? (before?.givenName ?? null) : f.givenName,
      familyName: f.familyName === undefined ? (before?.familyName ?? null) : f.familyName,
      email,
      phone,
      language: f.language === undefined ? (before?.language ?? null) : f.language,
      timeZone: f.timeZone === undefined ? (before?.timeZone ?? null) : f.timeZone,
      groups: before?.groups ?? [],
    };
  }

  async #requireUser(id: string): Promise<KnownAccount> {
    const account = await directoryRepo.findByExternalId(this.#db, 'scim', id);
    if (!account) throw new ScimError(404, `User ${id} not found`);
    return account;
  }

  #userResource(a: KnownAccount, userName: string): Json {
    const at = a.attributes as DirectoryAttributes & { givenName?: string | null; familyName?: string | null };
    return {
      schemas: [USER_SCHEMA],
      id: a.external_id,
      ...(a.scim_external_id ? { externalId: a.scim_external_id } : {}),
      userName,
      name: { formatted: at.displayName, givenName: at.givenName ?? null, familyName: at.familyName ?? null },
      displayName: at.displayName,
      active: !a.deactivated && !a.suspended,
      emails: at.email ? [{ value: at.email, type: 'work', primary: true }] : [],
      phoneNumbers: at.phone ? [{ value: at.phone, type: 'mobile', primary: true }] : [],
      ...(at.language ? { preferredLanguage: at.language } : {}),
      ...(at.timeZone ? { timezone: at.timeZone } : {}),
      'urn:org.tocsin:scim:User': { user_id: a.user_id },
      meta: { resourceType: 'User', lastModified: new Date(a.updated_ts).toISOString(), location: `${this.#baseUrl}/Users/${a.external_id}` },
    };
  }

  async #render(userId: string): Promise<Json> {
    const a = (await directoryRepo.findAccount(this.#db, userId))!;
    return this.#userResource(a, a.user_id.slice(1, a.user_id.indexOf(':')));
  }

  async createUser(body: Json): Promise<Json> {
    const f = fieldsOfUser(body);
    if (!f.userName) throw new ScimError(400, 'userName is required', 'invalidValue');
    const userId = this.#lifecycle.userIdOf(localpartOfUserName(f.userName));
    if (!userId) throw new ScimError(400, `userName ${f.userName} cannot be a Matrix user name`, 'invalidValue');
    const attrs = this.#attrs(f);
    const id = randomUUID();
    const existing = await usersRepo.findUser(this.#db, userId);
    if (existing) {
      // Deleted earlier through SCIM and created again (a re-hire): the account comes back.
      const linked = await directoryRepo.findAccount(this.#db, userId);
      if (existing.origin !== 'scim' || linked || !existing.deactivated) throw new ScimError(409, `userName ${f.userName} is already in use`, 'uniqueness');
      await this.#lifecycle.reactivate(userId);
      await this.#lifecycle.update('scim', id, userId, attrs, false, f.externalId ?? null);
    } else {
      await this.#lifecycle.provision('scim', id, userId, attrs, f.externalId ?? null);
    }
    if (f.active === false) await this.#setActive(userId, false);
    return this.#render(userId);
  }

  async getUser(id: string): Promise<Json> {
    const a = await this.#requireUser(id);
    return this.#render(a.user_id);
  }

  async listUsers(filter: string | undefined, startIndex: number, count: number): Promise<Json> {
    let all = await directoryRepo.accountsOfSource(this.#db, 'scim');
    if (filter) {
      const m = /^\s*(userName|externalId|id|emails(?:\.value)?)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i.exec(filter);
      if (!m) throw new ScimError(400, 'Only filters of the form `attribute eq "value"` on userName, externalId, id or emails are supported', 'invalidFilter');
      const attr = m[1]!.toLowerCase();
      const value = m[2]!.replace(/\\(.)/g, '$1');
      all = all.filter((a) => {
        if (attr === 'username') return a.user_id.slice(1, a.user_id.indexOf(':')) === localpartOfUserName(value);
        if (attr === 'externalid') return a.scim_external_id === value;
        if (attr === 'id') return a.external_id === value;
        return a.attributes.email === value.toLowerCase();
      });
    }
    all.sort((a, b) => a.user_id.localeCompare(b.user_id));
    const page = all.slice(startIndex - 1, startIndex - 1 + count);
    return {
      schemas: [LIST_SCHEMA],
      totalResults: all.length,
      startIndex,
      itemsPerPage: page.length,
      Resources: page.map((a) => this.#userResource(a, a.user_id.slice(1, a.user_id.indexOf(':')))),
    };
  }

  async replaceUser(id: string, body: Json): Promise<Json> {
    const a = await this.#requireUser(id);
    const f = fieldsOfUser(body);
    const attrs = this.#attrs({ ...f, email: f.email ?? null, phone: f.phone ?? null }, a.attributes);
    await this.#lifecycle.update('scim', id, a.user_id, attrs, a.disabled, f.externalId ?? a.scim_external_id);
    if (f.active !== undefined) await this.#setActive(a.user_id, f.active);
    return this.#render(a.user_id);
  }

  /** PATCH as Entra ID and Okta send it: paths or a value object, active as a boolean or "False". */
  async patchUser(id: string, body: Json): Promise<Json> {
    const a = await this.#requireUser(id);
    const ops = body.Operations ?? body.operations;
    if (!Array.isArray(ops) || ops.length === 0) throw new ScimError(400, 'Operations must be a non-empty array', 'invalidSyntax');
    const f: UserFields = {};
    for (const raw of ops) {
      const op = raw as Json;
      const kind = typeof op.op === 'string' ? op.op.toLowerCase() : '';
      if (!['add', 'replace', 'remove'].includes(kind)) throw new ScimError(400, `Unsupported op ${String(op.op)}`, 'invalidSyntax');
      const path = typeof op.path === 'string' ? op.path : undefined;
      const value = kind === 'remove' ? null : op.value;
      if (path === undefined) {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ScimError(400, 'An operation without path needs an object value', 'invalidValue');
        for (const [k, v] of Object.entries(value as Json)) applyPath(f, k, v);
      } else {
        applyPath(f, path, value);
      }
    }
    if (f.userName !== undefined && localpartOfUserName(f.userName) !== a.user_id.slice(1, a.user_id.indexOf(':'))) {
      throw new ScimError(400, 'userName cannot change: it is the Matrix user id', 'mutability');
    }
    const attrs = this.#attrs(f, a.attributes);
    await this.#lifecycle.update('scim', id, a.user_id, attrs, a.disabled, f.externalId === undefined ? a.scim_external_id : f.externalId);
    if (f.active !== undefined) await this.#setActive(a.user_id, f.active);
    return this.#render(a.user_id);
  }

  /** DELETE: deprovisioned like a person gone from LDAP; the resource is gone. */
  async deleteUser(id: string): Promise<void> {
    const a = await this.#requireUser(id);
    if (!a.deactivated) await this.#lifecycle.deprovision(a.user_id, 'Removed from the directory');
    await directoryRepo.deleteAccount(this.#db, a.user_id);
  }

  async #setActive(userId: string, active: boolean): Promise<void> {
    const a = (await directoryRepo.findAccount(this.#db, userId))!;
    if (active && (a.suspended || a.deactivated)) {
      await this.#lifecycle.reactivate(userId);
      await this.#lifecycle.update('scim', a.external_id, userId, a.attributes, false);
    } else if (!active && !a.suspended && !a.deactivated) {
      await this.#lifecycle.update('scim', a.external_id, userId, a.attributes, true);
      await this.#lifecycle.suspend(userId, 'active:false from SCIM');
    }
  }

  // ---- Groups ----

  async #group(scimId: string): Promise<{ scim_id: string; group_id: string; external_id: string | null; display_name: string | null }> {
    const row = await this.#db('scim_groups as s').join('groups as g', 'g.group_id', 's.group_id').where('s.scim_id', scimId).first('s.scim_id', 's.group_id', 's.external_id', 'g.display_name');
    if (!row) throw new ScimError(404, `Group ${scimId} not found`);
    return row;
  }

  async #groupResource(scimId: string): Promise<Json> {
    const g = await this.#group(scimId);
    const members: Array<{ user_id: string; external_id: string }> = await this.#db('group_members as m')
      .join('directory_accounts as d', 'd.user_id', 'm.user_id')
      .where({ 'm.group_id': g.group_id, 'd.source': 'scim' })
      .orderBy('m.user_id')
      .select('m.user_id', 'd.external_id');
    return {
      schemas: [GROUP_SCHEMA],
      id: g.scim_id,
      ...(g.external_id ? { externalId: g.external_id } : {}),
      displayName: g.display_name ?? g.group_id,
      members: members.map((m) => ({ value: m.external_id, display: m.user_id, $ref: `${this.#baseUrl}/Users/${m.external_id}` })),
      'urn:org.tocsin:scim:Group': { audience: `group:${g.group_id}` },
      meta: { resourceType: 'Group', location: `${this.#baseUrl}/Groups/${g.scim_id}` },
    };
  }

  async #memberUserIds(members: unknown): Promise<string[]> {
    if (members === undefined || members === null) return [];
    const list = Array.isArray(members) ? members : [members];
    const out: string[] = [];
    for (const m of list) {
      const value = typeof m === 'string' ? m : str((m as Json | null)?.value);
      if (!value) throw new ScimError(400, 'members need a value (a User id)', 'invalidValue');
      out.push((await this.#requireUser(value)).user_id);
    }
    return out;
  }

  async createGroup(body: Json): Promise<Json> {
    const displayName = str(body.displayName);
    if (!displayName) throw new ScimError(400, 'displayName is required', 'invalidValue');
    const groupId = groupIdOf(displayName);
    if (await this.#db('groups').where({ group_id: groupId }).first('group_id')) throw new ScimError(409, `Group ${displayName} already exists`, 'uniqueness');
    const members = await this.#memberUserIds(body.members);
    const scimId = randomUUID();
    await this.#lifecycle.changeGroup('scim', groupId, displayName, [], []);
    await this.#db('scim_groups').insert({ scim_id: scimId, group_id: groupId, external_id: str(body.externalId), created_ts: Date.now() });
    await this.#changeMembers(groupId, displayName, members, []);
    return this.#groupResource(scimId);
  }

  async #changeMembers(groupId: string, displayName: string | null, added: string[], removed: string[]): Promise<void> {
    await this.#lifecycle.changeGroup('scim', groupId, displayName, added, removed);
    // Each member's own record of their groups: which rooms they keep when leaving one group.
    for (const userId of [...added, ...removed]) {
      const a = await directoryRepo.findAccount(this.#db, userId);
      if (!a) continue;
      const groups = new Set(a.attributes.groups);
      if (added.includes(userId)) groups.add(groupId);
      else groups.delete(groupId);
      await directoryRepo.upsertAccount(this.#db, { user_id: userId, source: 'scim', external_id: a.external_id, disabled: a.disabled, attributes: { ...a.attributes, groups: [...groups].sort() } });
    }
  }

  async getGroup(scimId: string): Promise<Json> {
    return this.#groupResource(scimId);
  }

  async listGroups(filter: string | undefined, startIndex: number, count: number): Promise<Json> {
    let rows: Array<{ scim_id: string; external_id: string | null; display_name: string | null; group_id: string }> = await this.#db('scim_groups as s')
      .join('groups as g', 'g.group_id', 's.group_id')
      .orderBy('s.group_id')
      .select('s.scim_id', 's.external_id', 'g.display_name', 's.group_id');
    if (filter) {
      const m = /^\s*(displayName|externalId|id)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i.exec(filter);
      if (!m) throw new ScimError(400, 'Only filters of the form `attribute eq "value"` on displayName, externalId or id are supported', 'invalidFilter');
      const attr = m[1]!.toLowerCase();
      const value = m[2]!.replace(/\\(.)/g, '$1');
      rows = rows.filter((r) => (attr === 'displayname' ? r.display_name === value : attr === 'externalid' ? r.external_id === value : r.scim_id === value));
    }
    const page = rows.slice(startIndex - 1, startIndex - 1 + count);
    const resources: Json[] = [];
    for (const r of page) resources.push(await this.#groupResource(r.scim_id));
    return { schemas: [LIST_SCHEMA], totalResults: rows.length, startIndex, itemsPerPage: page.length, Resources: resources };
  }

  async patchGroup(scimId: string, body: Json): Promise<Json> {
    const g = await this.#group(scimId);
    const ops = body.Operations ?? body.operations;
    if (!Array.isArray(ops) || ops.length === 0) throw new ScimError(400, 'Operations must be a non-empty array', 'invalidSyntax');
    for (const raw of ops) {
      const op = raw as Json;
      const kind = typeof op.op === 'string' ? op.op.toLowerCase() : '';
      const path = typeof op.path === 'string' ? op.path : undefined;
      const current = await this.#currentMembers(g.group_id);
      const filtered = path ? /^members\[value eq "([^"]+)"\]$/i.exec(path) : null;
      if (kind === 'add' && path?.toLowerCase() === 'members') {
        await this.#changeMembers(g.group_id, g.display_name, (await this.#memberUserIds(op.value)).filter((u) => !current.includes(u)), []);
      } else if (kind === 'remove' && filtered) {
        await this.#changeMembers(g.group_id, g.display_name, [], [(await this.#requireUser(filtered[1]!)).user_id].filter((u) => current.includes(u)));
      } else if (kind === 'remove' && path?.toLowerCase() === 'members') {
        // Okta and Entra send the members to remove as the value; no value removes all.
        const gone = op.value === undefined ? current : await this.#memberUserIds(op.value);
        await this.#changeMembers(g.group_id, g.display_name, [], gone.filter((u) => current.includes(u)));
      } else if (kind === 'replace' && path?.toLowerCase() === 'members') {
        const wanted = await this.#memberUserIds(op.value);
        await this.#changeMembers(g.group_id, g.display_name, wanted.filter((u) => !current.includes(u)), current.filter((u) => !wanted.includes(u)));
      } else if ((kind === 'replace' || kind === 'add') && (path?.toLowerCase() === 'displayname' || (path === undefined && op.value && typeof op.value === 'object'))) {
        const value = path ? op.value : (op.value as Json).displayName;
        const name = str(value);
        if (name) {
          await directoryRepo.upsertSourcedGroup(this.#db, g.group_id, name, 'scim');
          g.display_name = name;
        }
        if (path === undefined && (op.value as Json).externalId !== undefined) await this.#db('scim_groups').where({ scim_id: scimId }).update({ external_id: str((op.value as Json).externalId) });
      } else if ((kind === 'replace' || kind === 'add') && path?.toLowerCase() === 'externalid') {
        await this.#db('scim_groups').where({ scim_id: scimId }).update({ external_id: str(op.value) });
      } else {
        throw new ScimError(400, `Unsupported group operation ${kind} ${path ?? ''}`.trim(), 'invalidPath');
      }
    }
    return this.#groupResource(scimId);
  }

  async replaceGroup(scimId: string, body: Json): Promise<Json> {
    const g = await this.#group(scimId);
    const wanted = await this.#memberUserIds(body.members);
    const current = await this.#currentMembers(g.group_id);
    const name = str(body.displayName) ?? g.display_name;
    await this.#changeMembers(g.group_id, name, wanted.filter((u) => !current.includes(u)), current.filter((u) => !wanted.includes(u)));
    if (body.externalId !== undefined) await this.#db('scim_groups').where({ scim_id: scimId }).update({ external_id: str(body.externalId) });
    return this.#groupResource(scimId);
  }

  async deleteGroup(scimId: string): Promise<void> {
    const g = await this.#group(scimId);
    await this.#changeMembers(g.group_id, g.display_name, [], await this.#currentMembers(g.group_id));
    await directoryRepo.deleteGroup(this.#db, g.group_id);
    this.#log.info({ audit: 'directory.group_deleted', source: 'scim', group: g.group_id }, 'group deleted');
  }

  async #currentMembers(groupId: string): Promise<string[]> {
    return (await this.#db('group_members').where({ group_id: groupId }).select('user_id')).map((r: { user_id: string }) => r.user_id);
  }
}

/** One PATCH path on a User ("active", "name.givenName", `emails[type eq "work"].value`...). */
function applyPath(f: UserFields, rawPath: string, value: unknown): void {
  const path = rawPath.replace(/^urn:ietf:params:scim:schemas:core:2\.0:User:/i, '');
  const p = path.toLowerCase();
  const scalar = Array.isArray(value) ? (value[0] as Json | undefined)?.value ?? value[0] : value;
  if (p === 'active') {
    const b = bool(value);
    if (b === undefined) throw new ScimError(400, 'active must be true or false', 'invalidValue');
    f.active = b;
  } else if (p === 'username') f.userName = str(value) ?? undefined;
  else if (p === 'displayname' || p === 'name.formatted') f.displayName = str(value);
  else if (p === 'name.givenname') f.givenName = str(value);
  else if (p === 'name.familyname') f.familyName = str(value);
  else if (p === 'name' && value && typeof value === 'object') {
    const n = value as Json;
    if (n.givenName !== undefined) f.givenName = str(n.givenName);
    if (n.familyName !== undefined) f.familyName = str(n.familyName);
    if (n.formatted !== undefined) f.displayName = str(n.formatted);
  } else if (p === 'externalid') f.externalId = str(value);
  else if (p.startsWith('emails')) f.email = typeof scalar === 'string' ? str(scalar) : p === 'emails' && Array.isArray(value) ? pickMulti(value, 'work') : null;
  else if (p.startsWith('phonenumbers')) f.phone = typeof scalar === 'string' ? str(scalar) : p === 'phonenumbers' && Array.isArray(value) ? pickMulti(value, 'mobile') : null;
  else if (p === 'preferredlanguage') f.language = str(value);
  else if (p === 'timezone') f.timeZone = str(value);
  // Other attributes (title, addresses, enterprise extension...) are not kept.
}
