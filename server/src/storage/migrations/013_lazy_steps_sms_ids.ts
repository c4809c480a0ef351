import type { Knex } from 'knex';

// alert_steps: one row per timed step of an alert (not per recipient). A fan-out to 10,000
// people wrote every step's rows at once (30,000 for three steps) before the API answered;
// now each step's rows are written when it falls due (the first one just after the answer),
// for the recipients still unacknowledged, a chunk at a time so that the first messages go
// out while the rest are written (the step claimed FOR UPDATE SKIP LOCKED, in
// transactions that move a cursor with the rows they write, so a crash or a second node
// neither loses nor doubles a step).
//
// sms_message_ids: the SMSC's message_id of every submitted part -> the delivery it carried,
// so that a delivery receipt that arrives after a restart (or on another node) still finds
// its delivery.
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('alert_steps', (t) => {
    t.text('alert_id').notNullable();
    t.integer('step').notNullable();
    t.bigInteger('due_ts').notNullable();
    t.text('state').notNullable(); // pending | expanded | cancelled
    // Rows are written in chunks of recipients in user_id order: the last one written so far.
    t.text('cursor').notNullable().defaultTo('');
    t.primary(['alert_id', 'step']);
  });
  await db.raw("CREATE INDEX alert_steps_due ON alert_steps (due_ts) WHERE state = 'pending'");

  await db.schema.createTable('sms_message_ids', (t) => {
    t.text('message_id').primary();
    t.bigInteger('delivery_id').notNullable();
    t.text('first_id').notNullable(); // the first part's message_id: the delivery's external_id
    t.bigInteger('created_ts').notNullable();
    t.index(['created_ts']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('sms_message_ids');
  await db.schema.dropTableIfExists('alert_steps');
}
