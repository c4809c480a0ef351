import type { Knex } from 'knex';

export async function insertFilter(db: Knex, userId: string, filter: unknown): Promise<string> {
  const rows = await db('filters').insert({ user_id: userId, filter: JSON.stringify(filter) }).returning('filter_id');
  return String((rows[0] as { filter_id: number }).filter_id);
}

export async function findFilter(db: Knex, userId: string, filterId: string): Promise<unknown | undefined> {
  if (!/^\d{1,15}$/.test(filterId)) return undefined;
  const row = await db('filters').where({ user_id: userId, filter_id: Number(filterId) }).first('filter');
  if (!row) return undefined;
  return typeof row.filter === 'string' ? JSON.parse(row.filter) : row.filter;
}
