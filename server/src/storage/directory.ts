import { createHash } from 'node:crypto';
import type { Knex } from 'knex';

/** What the directory last said about an account: compared with the next read. */
export interface DirectoryAttributes {
  displayName: string | null;
  email: string | null;
  phone: string | null;
  language: string | null;
  timeZone: string | null;
  groups: string[];
}

export interface DirectoryAccountRow {
  user_id: string;
  source: 'ldap' | 'scim';
  external_id: string;
  scim_external_id: string | null;
  missing_syncs: number;
  disabled: boolean;
  attributes: DirectoryAttributes;
  offline_hash: string | null;
  offline_verified_ts: number | null;
  updated_ts: number;
}

/** A short digest of what the directory said (stored with the row, compared by the next sync). */
export function fingerprintOf(a: DirectoryAttributes): string {
  return createHash('sha1').update(JSON.stringify([a.displayName, a.email, a.phone, a.language, a.timeZone, a.groups])).digest('base64');
}

/**
 * What an LDAP sync needs to know of an account to plan, kept small (100,000 of them are held
 * during a run): the attributes themselves are read only for accounts whose fingerprint differs.
 */
export interface CompactAccount {
  user_id: string;
  external_id: string;
  missing_syncs: number;
  disabled: boolean;
  deactivated: boolean;
  suspended: boolean;
  display_name: string | null;
  fingerprint: string | null;
}

export async function compactAccountsOfSource(db: Knex, source: 'ldap' | 'scim'): Promise<CompactAccount[]> {
  return db('directory_accounts as d')
    .join('users as u', 'u.user_id', 'd.user_id')
    .where('d.source', source)
    .select('d.user_id', 'd.external_id', 'd.missing_syncs', 'd.disabled', 'u.deactivated', 'u.suspended', db.raw(`d.attributes->>'displayName' AS display_name`), 'd.fingerprint');
}

/** The stored attributes of some accounts. */
export async function attributesOfAccounts(db: Knex, userIds: string[]): Promise<Map<string, DirectoryAttributes>> {
  const out = new Map<string, DirectoryAttributes>();
  for (let i = 0; i < userIds.length; i += 5000) {
    const rows: Array<{ user_id: string; attributes: DirectoryAttributes | string }> = await db('directory_accounts').whereIn('user_id', userIds.slice(i, i + 5000)).select('user_id', 'attributes');
    for (const r of rows) out.set(r.user_id, typeof r.attributes === 'string' ? (JSON.parse(r.attributes) as DirectoryAttributes) : r.attributes);
  }
  return out;
}

/** A directory account with the account's own state. */
export interface KnownAccount extends DirectoryAccountRow {
  deactivated: boolean;
  suspended: boolean;
}

function parse<T extends { attributes: unknown; offline_verified_ts?: unknown; updated_ts?: unknown }>(row: T): T {
  const attributes = typeof row.attributes === 'string' ? JSON.parse(row.attributes) : row.attributes;
  return {
    ...row,
    attributes,
    offline_verified_ts: row.offline_verified_ts == null ? null : Number(row.offline_verified_ts),
    updated_ts: Number(row.updated_ts),
  };
}

export async function accountsOfSource(db: Knex, source: 'ldap' | 'scim'): Promise<KnownAccount[]> {
  const rows = await db('directory_accounts as d')
    .join('users as u', 'u.user_id', 'd.user_id')
    .where('d.source', source)
    .select('d.*', 'u.deactivated', 'u.suspended');
  return rows.map(parse);
}

export async function findAccount(db: Knex, userId: string): Promise<KnownAccount | undefined> {
  const row = await db('directory_accounts as d').join('users as u', 'u.user_id', 'd.user_id').where('d.user_id', userId).first('d.*', 'u.deactivated', 'u.suspended');
  return row ? parse(row) : undefined;
}

export async function findByExternalId(db: Knex, source: 'ldap' | 'scim', externalId: string): Promise<KnownAccount | undefined> {
  const row = await db('directory_accounts as d')
    .join('users as u', 'u.user_id', 'd.user_id')
    .where({ 'd.source': source, 'd.external_id': externalId })
    .first('d.*', 'u.deactivated', 'u.suspended');
  return row ? parse(row) : undefined;
}

export async function upsertAccount(
  db: Knex,
  row: Pick<DirectoryAccountRow, 'user_id' | 'source' | 'external_id' | 'disabled' | 'attributes'> & { scim_external_id?: string | null },
): Promise<void> {
  await db('directory_accounts')
    .insert({ ...row, attributes: JSON.stringify(row.attributes), fingerprint: fingerprintOf(row.attributes), missing_syncs: 0, updated_ts: Date.now() })
    .onConflict('user_id')
    .merge(['source', 'external_id', 'disabled', 'attributes', 'fingerprint', 'missing_syncs', 'updated_ts', ...(row.scim_external_id !== undefined ? ['scim_external_id' as const] : [])]);
}

/** upsertAccount for many accounts: one statement per 500 (missing counters back to 0). */
export async function upsertAccounts(
  db: Knex,
  rows: Array<Pick<DirectoryAccountRow, 'user_id' | 'source' | 'external_id' | 'disabled' | 'attributes'>>,
): Promise<void> {
  const now = Date.now();
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500).map((r) => ({ ...r, attributes: JSON.stringify(r.attributes), fingerprint: fingerprintOf(r.attributes), missing_syncs: 0, updated_ts: now }));
    await db('directory_accounts').insert(chunk).onConflict('user_id').merge(['source', 'external_id', 'disabled', 'attributes', 'fingerprint', 'missing_syncs', 'updated_ts']);
  }
}

/** The directory groups (attributes.groups) of some accounts, by user id. */
export async function groupsOfAccounts(db: Knex, userIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < userIds.length; i += 5000) {
    const rows: Array<{ user_id: string; attributes: DirectoryAttributes | string }> = await db('directory_accounts').whereIn('user_id', userIds.slice(i, i + 5000)).select('user_id', 'attributes');
    for (const r of rows) out.set(r.user_id, (typeof r.attributes === 'string' ? (JSON.parse(r.attributes) as DirectoryAttributes) : r.attributes).groups ?? []);
  }
  return out;
}

export async function setMissingSyncs(db: Knex, userIds: string[], missing: number): Promise<void> {
  for (let i = 0; i < userIds.length; i += 5000) {
    await db('directory_accounts').whereIn('user_id', userIds.slice(i, i + 5000)).update({ missing_syncs: missing });
  }
}

export async function deleteAccount(db: Knex, userId: string): Promise<void> {
  await db('directory_accounts').where({ user_id: userId }).delete();
}

export async function setSuspended(db: Knex, userId: string, suspended: boolean): Promise<void> {
  await db('users').where({ user_id: userId }).update({ suspended });
}

export async function reactivateUser(db: Knex, userId: string): Promise<void> {
  await db('users').where({ user_id: userId }).update({ deactivated: false, suspended: false });
}

export async function setOfflineHash(db: Knex, userId: string, hash: string | null, ts: number | null): Promise<void> {
  await db('directory_accounts').where({ user_id: userId }).update({ offline_hash: hash, offline_verified_ts: ts });
}

/** Removes a user from every group (every alert audience). */
export async function removeFromAllGroups(db: Knex, userId: string): Promise<void> {
  await db('group_members').where({ user_id: userId }).delete();
}

export async function groupsOfSource(db: Knex, source: string): Promise<Map<string, Set<string>>> {
  const rows: Array<{ group_id: string; user_id: string | null }> = await db('groups as g')
    .leftJoin('group_members as m', 'm.group_id', 'g.group_id')
    .where('g.source', source)
    .select('g.group_id', 'm.user_id');
  const out = new Map<string, Set<string>>();
  for (const r of rows) {
    const set = out.get(r.group_id) ?? new Set<string>();
    if (r.user_id) set.add(r.user_id);
    out.set(r.group_id, set);
  }
  return out;
}

export async function upsertSourcedGroup(db: Knex, groupId: string, displayName: string | null, source: string): Promise<void> {
  await db('groups').insert({ group_id: groupId, display_name: displayName, source }).onConflict('group_id').merge(['display_name', 'source']);
}

export async function addGroupMembers(db: Knex, groupId: string, userIds: string[]): Promise<void> {
  for (let i = 0; i < userIds.length; i += 1000) {
    const chunk = userIds.slice(i, i + 1000).map((user_id) => ({ group_id: groupId, user_id }));
    if (chunk.length > 0) await db('group_members').insert(chunk).onConflict(['group_id', 'user_id']).ignore();
  }
}

export async function removeGroupMembers(db: Knex, groupId: string, userIds: string[]): Promise<void> {
  for (let i = 0; i < userIds.length; i += 1000) {
    await db('group_members').where({ group_id: groupId }).whereIn('user_id', userIds.slice(i, i + 1000)).delete();
  }
}

export async function deleteGroup(db: Knex, groupId: string): Promise<void> {
  await db('groups').where({ group_id: groupId }).delete();
}

export interface RunRow {
  run_id: number;
  trigger: string;
  requested_by: string | null;
  dry_run: boolean;
  forced: boolean;
  stopped: string | null;
  started_ts: number;
  finished_ts: number | null;
  report: Record<string, unknown>;
}

export async function insertRun(db: Knex, row: Omit<RunRow, 'run_id'>): Promise<number> {
  const [r] = await db('directory_runs').insert({ ...row, report: JSON.stringify(row.report) }).returning('run_id');
  return Number((r as { run_id: number }).run_id);
}

function parseRun(r: RunRow): RunRow {
  return {
    ...r,
    run_id: Number(r.run_id),
    started_ts: Number(r.started_ts),
    finished_ts: r.finished_ts == null ? null : Number(r.finished_ts),
    report: typeof r.report === 'string' ? JSON.parse(r.report) : r.report,
  };
}

export async function listRuns(db: Knex, limit: number): Promise<RunRow[]> {
  return (await db('directory_runs').orderBy('run_id', 'desc').limit(limit)).map(parseRun);
}

export async function findRun(db: Knex, runId: number): Promise<RunRow | undefined> {
  const r = await db('directory_runs').where({ run_id: runId }).first();
  return r ? parseRun(r) : undefined;
}

/** Web-push subscriptions of a user (or of some of their devices) go with the devices. */
export async function deletePushSubscriptions(db: Knex, userId: string, deviceIds: string[] | 'all'): Promise<number> {
  const q = db('push_subscriptions').where({ user_id: userId });
  if (deviceIds !== 'all') q.whereIn('device_id', deviceIds);
  return q.delete();
}

/**
 * Takes the claim on a kind of sync (one run at a time across every node on the database):
 * granted when nobody holds it or the holder's lease ran out (a node that died). With a `slot`
 * (a scheduled run: the tick's time), only if no run claimed that slot or a later one, so that
 * nodes firing the same tick run it once. One statement: concurrent claims are decided by
 * PostgreSQL's row lock on the claim row.
 */
export async function claimSync(db: Knex, name: string, holder: string, now: number, leaseMs: number, slot?: number): Promise<boolean> {
  const res = await db.raw(
    `INSERT INTO directory_sync_claims AS c (name, holder, expires_ts, last_slot) VALUES (?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE
        SET holder = excluded.holder, expires_ts = excluded.expires_ts, last_slot = COALESCE(excluded.last_slot, c.last_slot)
      WHERE (c.holder IS NULL OR c.expires_ts < ?)
        AND (excluded.last_slot IS NULL OR c.last_slot IS NULL OR c.last_slot < excluded.last_slot)
     RETURNING holder`,
    [name, holder, now + leaseMs, slot ?? null, now],
  );
  return (res.rows as Array<{ holder: string }>).some((r) => r.holder === holder);
}

/** Extends the holder's lease; false when the claim is no longer theirs. */
export async function renewSyncClaim(db: Knex, name: string, holder: string, now: number, leaseMs: number): Promise<boolean> {
  const rows = await db('directory_sync_claims').where({ name, holder }).update({ expires_ts: now + leaseMs }).returning('name');
  return rows.length > 0;
}

export async function releaseSyncClaim(db: Knex, name: string, holder: string): Promise<void> {
  await db('directory_sync_claims').where({ name, holder }).update({ holder: null, expires_ts: 0 }).returning('name');
}
