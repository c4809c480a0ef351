import type { Knex } from 'knex';

// Application services: per service, how far its transactions have gone in the event stream,
// the next transaction id, and the transaction being sent (kept until acknowledged, so a
// retry after a crash sends the same id with the same events).
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('appservice_state', (t) => {
    t.text('as_id').primary();
    t.bigInteger('stream_pos').notNullable();
    t.bigInteger('next_txn_id').notNullable().defaultTo(1);
    t.jsonb('pending_event_ids');
    t.bigInteger('pending_up_to');
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('due_ts').notNullable().defaultTo(0);
    t.bigInteger('lease_until');
    t.text('last_error');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('appservice_state');
}
