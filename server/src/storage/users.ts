import type { Knex } from 'knex';

export interface UserRow {
  user_id: string;
  localpart: string;
  password_hash: string | null;
  admin: boolean;
  deactivated: boolean;
  /** Disabled in the directory: no login, no alerts, memberships kept. */
  suspended: boolean;
  displayname: string | null;
  avatar_url: string | null;
  origin: string;
  created_ts: number;
}

export async function insertUser(db: Knex, row: Omit<UserRow, 'deactivated' | 'suspended' | 'origin'> & { origin?: string }): Promise<boolean> {
  const inserted = await db('users').insert(row).onConflict('user_id').ignore().returning('user_id');
  return inserted.length > 0;
}

/** Inserts many accounts in one statement; returns the ids inserted (an id already taken is left alone). */
export async function insertUsers(db: Knex, rows: Array<Omit<UserRow, 'deactivated' | 'suspended' | 'origin'> & { origin?: string }>): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted: Array<{ user_id: string }> = await db('users').insert(rows).onConflict('user_id').ignore().returning('user_id');
  return new Set(inserted.map((r) => r.user_id));
}

/** Sets the display name of many accounts in one statement. */
export async function setDisplayNames(db: Knex, names: Array<{ user_id: string; displayname: string }>): Promise<void> {
  if (names.length === 0) return;
  await db.raw(
    `UPDATE users AS u SET displayname = v.displayname
       FROM jsonb_to_recordset(?::jsonb) AS v(user_id text, displayname text)
      WHERE u.user_id = v.user_id`,
    [JSON.stringify(names)],
  );
}

/** Active administrators (the recipients of the server's own warnings). */
export async function listAdmins(db: Knex): Promise<string[]> {
  const rows: Array<{ user_id: string }> = await db('users').where({ admin: true, deactivated: false }).orderBy('user_id').select('user_id');
  return rows.map((r) => r.user_id);
}

export async function findUser(db: Knex, userId: string): Promise<UserRow | undefined> {
  return db('users').where({ user_id: userId }).first();
}

export async function listUsers(db: Knex): Promise<UserRow[]> {
  return db('users').orderBy('user_id');
}

export async function setPasswordHash(db: Knex, userId: string, hash: string | null): Promise<void> {
  await db('users').where({ user_id: userId }).update({ password_hash: hash });
}

export async function markDeactivated(db: Knex, userId: string): Promise<void> {
  await db('users').where({ user_id: userId }).update({ deactivated: true, password_hash: null });
}

export async function setProfileFields(
  db: Knex,
  userId: string,
  fields: { displayname?: string | null; avatar_url?: string | null },
): Promise<void> {
  await db('users').where({ user_id: userId }).update(fields);
}

export async function searchUsers(db: Knex, term: string, limit: number): Promise<UserRow[]> {
  const like = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return db('users')
    .where('deactivated', false)
    .andWhere((q) => q.whereILike('user_id', like).orWhereILike('displayname', like))
    .orderBy('user_id')
    .limit(limit);
}

export async function findUsers(db: Knex, userIds: string[]): Promise<Map<string, UserRow>> {
  const out = new Map<string, UserRow>();
  for (let i = 0; i < userIds.length; i += 5000) {
    const rows: UserRow[] = await db('users').whereIn('user_id', userIds.slice(i, i + 5000));
    for (const r of rows) out.set(r.user_id, r);
  }
  return out;
}
