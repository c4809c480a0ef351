import type { Knex } from 'knex';

export interface QuietHoursRow {
  user_id: string;
  time_zone: string;
  start: string;
  end: string;
}

export async function setQuietHours(db: Knex, row: QuietHoursRow): Promise<void> {
  await db('quiet_hours').insert(row).onConflict('user_id').merge(['time_zone', 'start', 'end']);
}

export async function deleteQuietHours(db: Knex, userId: string): Promise<void> {
  await db('quiet_hours').where({ user_id: userId }).delete();
}

export async function quietHoursOf(db: Knex, userIds: string[]): Promise<Map<string, QuietHoursRow>> {
  const out = new Map<string, QuietHoursRow>();
  for (let i = 0; i < userIds.length; i += 5000) {
    const rows: QuietHoursRow[] = await db('quiet_hours').whereIn('user_id', userIds.slice(i, i + 5000));
    for (const r of rows) out.set(r.user_id, r);
  }
  return out;
}
