import { fingerprintOf, type CompactAccount, type DirectoryAttributes } from '../../storage/directory.ts';
import type { DirectoryPerson } from './ldap-source.ts';

// Pure planning of an LDAP run: what the directory says against what Tocsin holds. Nothing
// here touches the database, so a dry run and a real run make exactly the same plan.

export interface PlannedChange {
  user_id: string;
  login: string;
  display_name: string | null;
}

export interface SyncPlan {
  create: Array<PlannedChange & { person: DirectoryPerson }>;
  update: Array<PlannedChange & { person: DirectoryPerson; fields: string[] }>;
  reactivate: Array<PlannedChange & { person: DirectoryPerson }>;
  suspend: Array<PlannedChange & { person: DirectoryPerson }>;
  deprovision: PlannedChange[];
  /** Gone from the directory, still within the grace period: missing_syncs after this run. */
  missing: Array<PlannedChange & { missing_syncs: number }>;
  /** Unchanged people whose stored row is out of date (missing counter, groups, DN): refreshed. */
  unchanged: Array<{ user_id: string; person: DirectoryPerson }>;
  groups: Array<{ group: string; added: string[]; removed: string[] }>;
  skipped: Array<{ login: string; reason: string }>;
  /** Why the safety net would stop this run, if it would. */
  stopped?: string;
}

/**
 * An account Tocsin holds, as the planner sees it: its attributes when they were read (the
 * sync reads them only for accounts whose fingerprint differs from the directory's).
 */
export type PlannedAccount = Pick<CompactAccount, 'user_id' | 'external_id' | 'missing_syncs' | 'disabled' | 'deactivated' | 'suspended'> & {
  display_name?: string | null;
  fingerprint?: string | null;
  attributes?: DirectoryAttributes;
};

export interface PlanInput {
  people: DirectoryPerson[];
  known: PlannedAccount[];
  /** Current members of directory-fed groups, by group id. */
  groupMembers: Map<string, Set<string>>;
  /** Every group the directory has (with no members too). */
  directoryGroups: Set<string>;
  /** Local accounts that share a login with a directory person: never taken over. */
  localUsers: Set<string>;
  userIdOf(login: string): string | undefined;
  deprovisionAfter: number;
  maxChangeShare: number;
}

export function attributesOf(p: DirectoryPerson): DirectoryAttributes {
  return { displayName: p.displayName, email: p.email, phone: p.phone, language: p.language, timeZone: p.timeZone, groups: p.groups };
}

/** The known accounts whose attributes the planner needs: their stored fingerprint differs from the directory's. */
export function accountsToRead(people: DirectoryPerson[], known: PlannedAccount[], userIdOf: (login: string) => string | undefined): string[] {
  const byId = new Map(known.map((k) => [k.user_id, k]));
  const out: string[] = [];
  for (const p of people) {
    const userId = userIdOf(p.login);
    const k = userId === undefined ? undefined : byId.get(userId);
    if (k && !k.attributes && k.fingerprint !== fingerprintOf(attributesOf(p))) out.push(k.user_id);
  }
  return out;
}

/** Whether the stored row of an otherwise unchanged person needs writing (a resync of an unchanged directory writes nothing). */
function stale(known: PlannedAccount, p: DirectoryPerson, fingerprint: string): boolean {
  if (known.missing_syncs !== 0 || known.external_id !== p.dn || known.disabled !== p.disabled) return true;
  // A row written before fingerprints, or with other groups: rewritten.
  if (known.fingerprint !== undefined && known.fingerprint !== fingerprint) return true;
  return known.attributes !== undefined && known.attributes.groups.join('\n') !== p.groups.join('\n');
}

const FIELDS: Array<[keyof DirectoryAttributes, string]> = [
  ['displayName', 'display_name'],
  ['email', 'email'],
  ['phone', 'phone'],
  ['language', 'language'],
  ['timeZone', 'time_zone'],
];

export function planSync(input: PlanInput): SyncPlan {
  const plan: SyncPlan = { create: [], update: [], reactivate: [], suspend: [], deprovision: [], missing: [], unchanged: [], groups: [], skipped: [] };
  const knownById = new Map(input.known.map((k) => [k.user_id, k]));
  const seen = new Set<string>();
  const wantedGroups = new Map<string, Set<string>>();
  for (const g of input.directoryGroups) wantedGroups.set(g, new Set());

  for (const person of input.people) {
    const userId = input.userIdOf(person.login);
    if (!userId) {
      plan.skipped.push({ login: person.login, reason: 'not a valid Matrix user name' });
      continue;
    }
    if (input.localUsers.has(userId)) {
      plan.skipped.push({ login: person.login, reason: 'a local account has this name' });
      continue;
    }
    seen.add(userId);
    const known = knownById.get(userId);
    const base = { user_id: userId, login: person.login, display_name: person.displayName };
    const fingerprint = known ? fingerprintOf(attributesOf(person)) : '';
    if (!known && person.disabled) {
      // A person disabled before Tocsin ever saw them gets no account.
      plan.skipped.push({ login: person.login, reason: 'disabled in the directory' });
      continue;
    }
    // Suspended people stay in their groups (membership is kept); audiences skip them.
    for (const g of person.groups) {
      const set = wantedGroups.get(g) ?? new Set<string>();
      set.add(userId);
      wantedGroups.set(g, set);
    }
    if (!known) {
      plan.create.push({ ...base, person });
      continue;
    }
    if (person.disabled) {
      if (!known.suspended && !known.deactivated) plan.suspend.push({ ...base, person });
      else if (stale(known, person, fingerprint)) plan.unchanged.push({ user_id: userId, person });
      continue;
    }
    if (known.deactivated || known.suspended) {
      plan.reactivate.push({ ...base, person });
      continue;
    }
    // Same fingerprint: nothing changed (the attributes were not even read).
    const attrs = known.attributes;
    if (!attrs && known.fingerprint !== fingerprint) throw new Error(`the attributes of ${userId} were not read`);
    const fields = attrs ? FIELDS.filter(([k]) => attrs[k] !== person[k as keyof DirectoryPerson]).map(([, name]) => name) : [];
    if (fields.length > 0) plan.update.push({ ...base, person, fields });
    else if (stale(known, person, fingerprint)) plan.unchanged.push({ user_id: userId, person });
  }

  for (const known of input.known) {
    if (seen.has(known.user_id) || known.deactivated) continue;
    const base = { user_id: known.user_id, login: known.user_id, display_name: known.attributes?.displayName ?? known.display_name ?? null };
    const missing = known.missing_syncs + 1;
    if (missing >= input.deprovisionAfter) plan.deprovision.push(base);
    else plan.missing.push({ ...base, missing_syncs: missing });
  }

  // Deprovisioned people leave everything in one step; people within the grace period keep
  // their groups until then (a directory glitch must not shuffle audiences).
  const leaving = new Set([...plan.deprovision, ...plan.missing].map((d) => d.user_id));
  for (const [group, wanted] of wantedGroups) {
    const current = input.groupMembers.get(group) ?? new Set<string>();
    const added = [...wanted].filter((u) => !current.has(u)).sort();
    const removed = [...current].filter((u) => !wanted.has(u) && !leaving.has(u)).sort();
    if (added.length > 0 || removed.length > 0 || !input.groupMembers.has(group)) plan.groups.push({ group, added, removed });
  }
  // A group gone from the directory: its members leave it (the group itself is kept empty).
  for (const [group, current] of input.groupMembers) {
    if (wantedGroups.has(group) || current.size === 0) continue;
    plan.groups.push({ group, added: [], removed: [...current].filter((u) => !leaving.has(u)).sort() });
  }

  // The safety net. Vanishing people count as much as disabled ones: a filter typo or a
  // wrong base makes them vanish, and the grace period must not hide that from the share.
  const active = input.known.filter((k) => !k.deactivated && !k.suspended).length;
  const losing = plan.suspend.length + plan.deprovision.length + plan.missing.length;
  if (input.people.length === 0) {
    plan.stopped = 'the directory returned nobody (empty result)';
  } else if (active > 0 && losing / active > input.maxChangeShare) {
    plan.stopped = `the run would suspend or remove ${losing} of ${active} accounts (${Math.round((losing / active) * 100)} %), more than max_change_share ${Math.round(input.maxChangeShare * 100)} %`;
  }
  return plan;
}
