import type { Knex } from 'knex';

// Templates for recurring alerts (the weekly siren test, the flood warning): a named alert
// body that senders fill in or send as it is.
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('alert_templates', (t) => {
    t.text('name').primary();
    t.jsonb('alert').notNullable(); // the fields of POST /_tocsin/v1/alerts it fixes
    t.text('updated_by').notNullable();
    t.bigInteger('updated_ts').notNullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('alert_templates');
}
