import type { Knex } from 'knex';

// The alert's message in each crisis room of its audience (besides each person's own alert
// room): a reaction there acknowledges for the recipient who reacts.
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('alert_room_posts', (t) => {
    t.text('event_id').primary();
    t.text('alert_id').notNullable();
    t.text('room_id').notNullable();
    t.index(['alert_id']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('alert_room_posts');
}
