import { describe, expect, it } from 'vitest';
import type { KnownAccount } from '../../../src/storage/directory.ts';
import { groupIdOf, normaliseDn, phoneToE164, type DirectoryPerson } from '../../../src/crisis/directory/ldap-source.ts';
import { accountsToRead, attributesOf, planSync, type PlanInput, type PlannedAccount } from '../../../src/crisis/directory/sync-planner.ts';
import { fingerprintOf } from '../../../src/storage/directory.ts';

function person(login: string, extra: Partial<DirectoryPerson> = {}): DirectoryPerson {
  return { dn: `uid=${login},ou=people,dc=x`, login, displayName: login.toUpperCase(), email: null, phone: null, language: null, timeZone: null, disabled: false, groups: [], ...extra };
}

function known(p: DirectoryPerson, extra: Partial<KnownAccount> = {}): KnownAccount {
  return {
    user_id: `@${p.login}:x`,
    source: 'ldap',
    external_id: p.dn,
    scim_external_id: null,
    missing_syncs: 0,
    disabled: false,
    attributes: attributesOf(p),
    offline_hash: null,
    offline_verified_ts: null,
    updated_ts: 0,
    deactivated: false,
    suspended: false,
    ...extra,
  };
}

function input(people: DirectoryPerson[], knownAccounts: PlannedAccount[], extra: Partial<PlanInput> = {}): PlanInput {
  return {
    people,
    known: knownAccounts,
    groupMembers: new Map(),
    directoryGroups: new Set(people.flatMap((p) => p.groups)),
    localUsers: new Set(),
    userIdOf: (login) => (/^[a-z0-9._=-]+$/.test(login) ? `@${login}:x` : undefined),
    deprovisionAfter: 2,
    maxChangeShare: 0.1,
    ...extra,
  };
}

const many = (n: number) => Array.from({ length: n }, (_, i) => person(`p${i}`));

describe('sync planner', () => {
  it('counts missing runs and deprovisions after the grace period', () => {
    const people = many(20);
    const gone = people.pop()!;
    const all = [...people.map((p) => known(p)), known(gone)];
    expect(planSync(input(people, all)).missing).toEqual([expect.objectContaining({ user_id: '@p19:x', missing_syncs: 1 })]);
    const later = planSync(input(people, [...people.map((p) => known(p)), known(gone, { missing_syncs: 1 })]));
    expect(later.deprovision.map((d) => d.user_id)).toEqual(['@p19:x']);
    expect(later.stopped).toBeUndefined();
  });

  it('stops when more than max_change_share would leave, counting vanished people', () => {
    const people = many(10);
    const plan = planSync(input(people.slice(0, 8), people.map((p) => known(p))));
    expect(plan.stopped).toMatch(/2 of 10 accounts \(20 %\)/);
    expect(planSync(input(people.slice(0, 9), people.map((p) => known(p)))).stopped).toBeUndefined(); // 10 % is allowed
  });

  it('stops on an empty directory, even on a first run', () => {
    expect(planSync(input([], [])).stopped).toMatch(/empty result/);
  });

  it('never takes over a local account, skips names Matrix refuses and people disabled before they came', () => {
    const plan = planSync(input([person('admin'), person('Bad Name'), person('ghost', { disabled: true }), person('new')], [], { localUsers: new Set(['@admin:x']) }));
    expect(plan.create.map((c) => c.user_id)).toEqual(['@new:x']);
    expect(plan.skipped.map((s) => s.login)).toEqual(['admin', 'Bad Name', 'ghost']);
  });

  it('names the fields that changed; keeps a suspended person in their groups', () => {
    const before = person('ann', { groups: ['cell'] });
    const after = person('ann', { displayName: 'Ann B', phone: '+33611111111', groups: ['cell'], disabled: true });
    const plan = planSync(input([after], [known(before)], { groupMembers: new Map([['cell', new Set(['@ann:x'])]]), maxChangeShare: 1 }));
    expect(plan.suspend.map((s) => s.user_id)).toEqual(['@ann:x']);
    expect(plan.groups).toEqual([]);
    const updated = planSync(input([{ ...after, disabled: false }], [known(before)], { groupMembers: new Map([['cell', new Set(['@ann:x'])]]) }));
    expect(updated.update).toEqual([expect.objectContaining({ fields: ['display_name', 'phone'] })]);
  });
});

describe('sync planner with fingerprints (attributes read only where they differ)', () => {
  const compact = (p: DirectoryPerson, fingerprint: string | null): PlannedAccount => ({
    user_id: `@${p.login}:x`,
    external_id: p.dn,
    missing_syncs: 0,
    disabled: false,
    deactivated: false,
    suspended: false,
    display_name: p.displayName,
    fingerprint,
  });
  const userIdOf = (login: string) => `@${login}:x`;

  it('a matching fingerprint is an unchanged person; a different one is read, then compared', () => {
    const ann = person('ann', { groups: ['cell'] });
    const bob = person('bob', { phone: '+33611111111' });
    const bobBefore = person('bob');
    const known = [compact(ann, fingerprintOf(attributesOf(ann))), compact(bob, fingerprintOf(attributesOf(bobBefore)))];
    expect(accountsToRead([ann, bob], known, userIdOf)).toEqual(['@bob:x']);
    known[1]!.attributes = attributesOf(bobBefore);
    const plan = planSync(input([ann, bob], known, { groupMembers: new Map([['cell', new Set(['@ann:x'])]]) }));
    expect(plan.update).toEqual([expect.objectContaining({ user_id: '@bob:x', fields: ['phone'] })]);
    expect(plan.unchanged).toEqual([]);
    expect(plan.groups).toEqual([]);
  });

  it('a row from before fingerprints is read, and rewritten even when nothing changed', () => {
    const ann = person('ann');
    const known = [compact(ann, null)];
    expect(accountsToRead([ann], known, userIdOf)).toEqual(['@ann:x']);
    known[0]!.attributes = attributesOf(ann);
    const plan = planSync(input([ann], known));
    expect(plan.update).toEqual([]);
    expect(plan.unchanged.map((u) => u.user_id)).toEqual(['@ann:x']);
  });

  it('people gone keep the name stored with their row', () => {
    const people = many(20);
    const gone = person('zed', { displayName: 'Zed Z' });
    const known = [...people.map((p) => compact(p, fingerprintOf(attributesOf(p)))), compact(gone, 'x')];
    const plan = planSync(input(people, known));
    expect(plan.missing).toEqual([expect.objectContaining({ user_id: '@zed:x', display_name: 'Zed Z', missing_syncs: 1 })]);
    expect(plan.update).toEqual([]);
    expect(plan.unchanged).toEqual([]);
  });
});

describe('directory value mapping', () => {
  it('writes phones in E.164 or drops them', () => {
    expect(phoneToE164('06 12 34 56 78', '33')).toBe('+33612345678');
    expect(phoneToE164('+33 (0)6-12', undefined)).toBeNull();
    expect(phoneToE164('+44 20 7946 0958', '33')).toBe('+442079460958');
    expect(phoneToE164('0033 6 12 34 56 78', undefined)).toBe('+33612345678');
    expect(phoneToE164('06 12 34 56 78', undefined)).toBeNull();
    expect(phoneToE164('call me', '33')).toBeNull();
  });

  it('compares DNs without case or spaces, and makes group ids from names', () => {
    expect(normaliseDn('UID=Bob, OU=People,dc=X')).toBe('uid=bob,ou=people,dc=x');
    expect(groupIdOf('Cellule de crise (PC)')).toBe('Cellule_de_crise__PC_');
  });
});
