import type { Knex } from 'knex';

// Crisis domain: contacts, groups, quiet hours, push subscriptions, alerts and their
// per-recipient, per-channel deliveries (the durable work of the escalation engine).
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('user_contacts', (t) => {
    t.text('user_id').primary().references('users.user_id');
    t.text('email');
    t.text('phone'); // E.164
    t.text('language');
    t.text('source').notNullable().defaultTo('admin'); // admin | ldap | scim
    t.bigInteger('updated_ts').notNullable();
  });
  await db.raw('CREATE INDEX user_contacts_phone ON user_contacts (phone) WHERE phone IS NOT NULL');

  await db.schema.createTable('user_roles', (t) => {
    t.text('user_id').notNullable().references('users.user_id');
    t.text('role').notNullable(); // alert_sender | exercise_coordinator | dpo
    t.primary(['user_id', 'role']);
  });

  await db.schema.createTable('groups', (t) => {
    t.text('group_id').primary(); // the directory group's cn, e.g. "cellule"
    t.text('display_name');
    t.text('source').notNullable().defaultTo('local');
  });
  await db.schema.createTable('group_members', (t) => {
    t.text('group_id').notNullable().references('groups.group_id').onDelete('CASCADE');
    t.text('user_id').notNullable().references('users.user_id');
    t.primary(['group_id', 'user_id']);
    t.index(['user_id']);
  });

  await db.schema.createTable('quiet_hours', (t) => {
    t.text('user_id').primary().references('users.user_id');
    t.text('time_zone').notNullable();
    t.text('start').notNullable(); // HH:MM local time
    t.text('end').notNullable();
  });

  await db.schema.createTable('push_subscriptions', (t) => {
    t.bigIncrements('id');
    t.text('user_id').notNullable().references('users.user_id');
    t.text('device_id');
    t.text('endpoint').notNullable().unique();
    t.text('p256dh').notNullable();
    t.text('auth').notNullable();
    t.bigInteger('created_ts').notNullable();
    t.index(['user_id']);
  });

  await db.schema.createTable('alerts', (t) => {
    t.text('alert_id').primary();
    t.text('sender').notNullable();
    t.text('severity').notNullable();
    t.text('title').notNullable();
    t.text('body').notNullable();
    t.boolean('drill').notNullable().defaultTo(false);
    t.text('state').notNullable(); // active | closed | cancelled | expired
    t.jsonb('audience').notNullable();
    t.jsonb('escalation').notNullable();
    t.jsonb('rollcall'); // { question, answers: [...] } or null
    t.text('room_id');
    t.text('event_id');
    t.bigInteger('created_ts').notNullable();
    t.bigInteger('expires_ts').notNullable();
    t.bigInteger('closed_ts');
    // Stream position of the alert's latest change (creation, close): the alert feed's cursor.
    t.bigInteger('feed_pos');
    t.index(['created_ts']);
    t.index(['feed_pos']);
  });

  await db.schema.createTable('alert_recipients', (t) => {
    t.text('alert_id').notNullable().references('alerts.alert_id');
    t.text('user_id').notNullable();
    t.text('reply_code').notNullable();
    t.bigInteger('acknowledged_ts');
    t.text('ack_channel');
    t.text('rollcall_answer');
    t.bigInteger('ack_pos'); // stream position of the acknowledgement, for the feed
    t.primary(['alert_id', 'user_id']);
    t.index(['user_id', 'acknowledged_ts']);
  });

  await db.schema.createTable('alert_deliveries', (t) => {
    t.bigIncrements('id');
    t.text('alert_id').notNullable();
    t.text('user_id').notNullable();
    t.integer('step').notNullable();
    t.text('channel').notNullable();
    t.text('state').notNullable(); // pending | held | sending | sent | delivered | failed | cancelled
    t.bigInteger('due_ts').notNullable();
    t.bigInteger('lease_until'); // a worker's claim while it dispatches
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.text('external_id');
    t.bigInteger('sent_ts');
    t.bigInteger('updated_ts').notNullable();
    t.unique(['alert_id', 'user_id', 'step', 'channel']);
    t.index(['alert_id', 'user_id']);
    t.index(['channel', 'external_id']);
  });
  // Each user's private room with the Tocsin system user, where alerts arrive as Matrix messages.
  await db.schema.createTable('alert_rooms', (t) => {
    t.text('user_id').primary();
    t.text('room_id').notNullable().unique();
  });

  // Secrets shared by every node (ack-link signing key): in the database, not in one DATA_DIR.
  await db.schema.createTable('server_secrets', (t) => {
    t.text('name').primary();
    t.text('value').notNullable();
  });

  await db.raw("CREATE INDEX alert_deliveries_due ON alert_deliveries (due_ts) WHERE state IN ('pending', 'held', 'sending')");
}

export async function down(db: Knex): Promise<void> {
  for (const table of [
    'server_secrets', 'alert_rooms', 'alert_deliveries', 'alert_recipients', 'alerts', 'push_subscriptions', 'quiet_hours',
    'group_members', 'groups', 'user_roles', 'user_contacts',
  ]) {
    await db.schema.dropTableIfExists(table);
  }
}
