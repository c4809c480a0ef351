import type { Knex } from 'knex';

export interface ContactRow {
  user_id: string;
  email: string | null;
  phone: string | null;
  language: string | null;
  source: string;
  updated_ts: number;
}

export async function upsertContacts(db: Knex, row: ContactRow): Promise<void> {
  await db('user_contacts').insert(row).onConflict('user_id').merge(['email', 'phone', 'language', 'source', 'updated_ts']);
}

/** The same as upsertContacts for many people, in one statement per 1000. */
export async function upsertManyContacts(db: Knex, rows: ContactRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    await db('user_contacts').insert(rows.slice(i, i + 1000)).onConflict('user_id').merge(['email', 'phone', 'language', 'source', 'updated_ts']);
  }
}

export async function contactsOf(db: Knex, userIds: string[]): Promise<Map<string, ContactRow>> {
  const out = new Map<string, ContactRow>();
  for (let i = 0; i < userIds.length; i += 5000) {
    const rows: ContactRow[] = await db('user_contacts').whereIn('user_id', userIds.slice(i, i + 5000));
    for (const r of rows) out.set(r.user_id, r);
  }
  return out;
}

export async function usersWithPhone(db: Knex, phone: string): Promise<string[]> {
  const rows = await db('user_contacts').where({ phone }).select('user_id');
  return rows.map((r: { user_id: string }) => r.user_id);
}
