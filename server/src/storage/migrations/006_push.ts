import type { Knex } from 'knex';

// Push: per-user rule changes, pushers, the evaluated notifications of each recipient, the
// cursor of the evaluation worker over the event stream, and durable deliveries to gateways.
export async function up(db: Knex): Promise<void> {
  // One document per user who changed anything: custom rules per kind (in priority order) and
  // the enabled/actions changes of server-default rules. Users without a row have the defaults.
  await db.schema.createTable('push_rules', (t) => {
    t.text('user_id').primary();
    t.jsonb('rules').notNullable();
  });

  await db.schema.createTable('pushers', (t) => {
    t.bigIncrements('id');
    t.text('user_id').notNullable();
    t.text('kind').notNullable();
    t.text('app_id').notNullable();
    t.text('pushkey').notNullable();
    t.text('app_display_name').notNullable();
    t.text('device_display_name').notNullable();
    t.text('profile_tag');
    t.text('lang').notNullable();
    t.jsonb('data').notNullable();
    t.bigInteger('created_ts').notNullable();
    t.unique(['user_id', 'app_id', 'pushkey']);
    t.index(['app_id', 'pushkey']);
  });

  // Events up to this position have been evaluated for every recipient (a single row, claimed
  // with FOR UPDATE SKIP LOCKED: one node evaluates at a time, another takes over if it dies).
  await db.schema.createTable('push_cursor', (t) => {
    t.integer('id').primary();
    t.bigInteger('stream_pos').notNullable();
  });
  const head = await db('stream_head').where({ id: 1 }).first('pos');
  await db('push_cursor').insert({ id: 1, stream_pos: Number(head?.pos ?? 0) });

  // Events that notify a user (the rule's actions contained "notify").
  await db.schema.createTable('event_push_actions', (t) => {
    t.text('user_id').notNullable();
    t.text('event_id').notNullable();
    t.text('room_id').notNullable();
    t.bigInteger('event_stream_pos').notNullable();
    t.boolean('highlight').notNullable();
    t.jsonb('actions').notNullable();
    t.bigInteger('ts').notNullable();
    t.primary(['user_id', 'event_id']);
    t.index(['user_id', 'room_id', 'event_stream_pos']);
    t.index(['user_id', 'event_stream_pos']);
  });

  await db.schema.createTable('push_deliveries', (t) => {
    t.bigIncrements('id');
    t.bigInteger('pusher_id').notNullable();
    t.text('user_id').notNullable();
    t.text('event_id').notNullable();
    t.text('room_id').notNullable();
    t.bigInteger('event_stream_pos').notNullable();
    t.boolean('highlight').notNullable();
    t.jsonb('actions').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('due_ts').notNullable();
    t.text('last_error');
    t.index(['due_ts']);
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of ['push_deliveries', 'event_push_actions', 'push_cursor', 'pushers', 'push_rules']) {
    await db.schema.dropTableIfExists(table);
  }
}
