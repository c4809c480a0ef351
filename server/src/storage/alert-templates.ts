import type { Knex } from 'knex';

export interface TemplateRow {
  name: string;
  alert: Record<string, unknown>;
  updated_by: string;
  updated_ts: number;
}

function fromDb(r: { name: string; alert: unknown; updated_by: string; updated_ts: string | number }): TemplateRow {
  return {
    name: r.name,
    alert: (typeof r.alert === 'string' ? JSON.parse(r.alert) : r.alert) as Record<string, unknown>,
    updated_by: r.updated_by,
    updated_ts: Number(r.updated_ts),
  };
}

export async function putTemplate(db: Knex, row: TemplateRow): Promise<void> {
  await db('alert_templates')
    .insert({ ...row, alert: JSON.stringify(row.alert) })
    .onConflict('name')
    .merge(['alert', 'updated_by', 'updated_ts']);
}

export async function getTemplate(db: Knex, name: string): Promise<TemplateRow | undefined> {
  const row = await db('alert_templates').where({ name }).first();
  return row ? fromDb(row) : undefined;
}

export async function listTemplates(db: Knex): Promise<TemplateRow[]> {
  return (await db('alert_templates').orderBy('name')).map(fromDb);
}

export async function deleteTemplate(db: Knex, name: string): Promise<boolean> {
  // RETURNING rather than the affected-row count, which PGlite's knex driver does not report.
  return (await db('alert_templates').where({ name }).delete().returning('name')).length > 0;
}
