import type { Knex } from 'knex';

// Matrix core: accounts, rooms, events, state, sync streams.
// Every change a /sync must see carries a `stream_pos` taken from stream_head (see stream.ts).
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('stream_head', (t) => {
    t.integer('id').primary();
    t.bigInteger('pos').notNullable();
  });
  await db('stream_head').insert({ id: 1, pos: 0 });

  await db.schema.createTable('users', (t) => {
    t.text('user_id').primary();
    t.text('localpart').notNullable().unique();
    t.text('password_hash');
    t.boolean('admin').notNullable().defaultTo(false);
    t.boolean('deactivated').notNullable().defaultTo(false);
    t.text('displayname');
    t.text('avatar_url');
    t.text('origin').notNullable().defaultTo('local');
    t.bigInteger('created_ts').notNullable();
  });

  await db.schema.createTable('devices', (t) => {
    t.text('user_id').notNullable().references('users.user_id');
    t.text('device_id').notNullable();
    t.text('display_name');
    t.bigInteger('created_ts').notNullable();
    t.bigInteger('last_seen_ts');
    t.text('last_seen_ip');
    t.primary(['user_id', 'device_id']);
  });

  await db.schema.createTable('access_tokens', (t) => {
    t.text('token_hash').primary(); // sha256 of the token: a leaked table grants nothing
    t.text('user_id').notNullable();
    t.text('device_id').notNullable();
    t.bigInteger('created_ts').notNullable();
    t.index(['user_id', 'device_id']);
  });

  await db.schema.createTable('rooms', (t) => {
    t.text('room_id').primary();
    t.text('room_version').notNullable();
    t.text('creator').notNullable();
    t.boolean('published').notNullable().defaultTo(false);
    t.bigInteger('created_ts').notNullable();
  });

  await db.schema.createTable('events', (t) => {
    t.bigInteger('stream_pos').primary();
    t.text('event_id').notNullable().unique();
    t.text('room_id').notNullable();
    t.text('type').notNullable();
    t.text('state_key');
    t.text('sender').notNullable();
    t.bigInteger('depth').notNullable();
    t.bigInteger('origin_server_ts').notNullable();
    t.jsonb('json').notNullable();
    t.text('redacted_by');
    // Who sent it from which device with which txn id: `unsigned.transaction_id` is shown to that device only.
    t.text('sender_device');
    t.text('txn_id');
    t.index(['room_id', 'stream_pos']);
  });
  await db.raw(
    'CREATE INDEX events_room_state ON events (room_id, type, state_key, stream_pos) WHERE state_key IS NOT NULL',
  );

  await db.schema.createTable('current_state', (t) => {
    t.text('room_id').notNullable();
    t.text('type').notNullable();
    t.text('state_key').notNullable();
    t.text('event_id').notNullable();
    t.bigInteger('stream_pos').notNullable();
    t.primary(['room_id', 'type', 'state_key']);
  });

  await db.schema.createTable('memberships', (t) => {
    t.text('room_id').notNullable();
    t.text('user_id').notNullable();
    t.text('membership').notNullable();
    t.text('event_id').notNullable();
    t.bigInteger('stream_pos').notNullable();
    t.boolean('forgotten').notNullable().defaultTo(false);
    t.primary(['room_id', 'user_id']);
    t.index(['user_id', 'stream_pos']);
  });

  await db.schema.createTable('room_aliases', (t) => {
    t.text('alias').primary();
    t.text('room_id').notNullable().index();
    t.text('creator').notNullable();
  });

  await db.schema.createTable('txn_ids', (t) => {
    t.text('user_id').notNullable();
    t.text('device_id').notNullable();
    t.text('txn_id').notNullable();
    t.text('event_id').notNullable();
    t.bigInteger('created_ts').notNullable();
    t.primary(['user_id', 'device_id', 'txn_id']);
  });

  await db.schema.createTable('filters', (t) => {
    t.text('user_id').notNullable();
    t.bigIncrements('filter_id', { primaryKey: false });
    t.jsonb('filter').notNullable();
    t.primary(['user_id', 'filter_id']);
  });

  await db.schema.createTable('account_data', (t) => {
    t.text('user_id').notNullable();
    t.text('room_id').notNullable(); // '' for global account data
    t.text('type').notNullable();
    t.jsonb('content').notNullable();
    t.bigInteger('stream_pos').notNullable();
    t.primary(['user_id', 'room_id', 'type']);
    t.index(['user_id', 'stream_pos']);
  });

  await db.schema.createTable('receipts', (t) => {
    t.text('room_id').notNullable();
    t.text('user_id').notNullable();
    t.text('receipt_type').notNullable();
    t.text('thread_id').notNullable(); // '' for unthreaded receipts
    t.text('event_id').notNullable();
    t.bigInteger('event_stream_pos').notNullable();
    t.bigInteger('ts').notNullable();
    t.bigInteger('stream_pos').notNullable();
    t.primary(['room_id', 'user_id', 'receipt_type', 'thread_id']);
    t.index(['room_id', 'stream_pos']);
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of [
    'receipts', 'account_data', 'filters', 'txn_ids', 'room_aliases', 'memberships',
    'current_state', 'events', 'rooms', 'access_tokens', 'devices', 'users', 'stream_head',
  ]) {
    await db.schema.dropTableIfExists(table);
  }
}
