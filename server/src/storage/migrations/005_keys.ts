import type { Knex } from 'knex';

// End-to-end encryption: the server keeps public keys, signatures, opaque to-device messages
// and encrypted key backups. Nothing here can decrypt a room message.
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('e2e_device_keys', (t) => {
    t.text('user_id').notNullable();
    t.text('device_id').notNullable();
    t.jsonb('keys').notNullable(); // the signed DeviceKeys object as uploaded
    t.primary(['user_id', 'device_id']);
  });

  await db.schema.createTable('e2e_one_time_keys', (t) => {
    t.text('user_id').notNullable();
    t.text('device_id').notNullable();
    t.text('algorithm').notNullable();
    t.text('key_id').notNullable(); // `<algorithm>:<id>`
    t.jsonb('key').notNullable();
    t.bigIncrements('seq', { primaryKey: false }); // claims hand keys out in upload order
    t.primary(['user_id', 'device_id', 'key_id']);
    t.index(['user_id', 'device_id', 'algorithm', 'seq']);
  });

  await db.schema.createTable('e2e_fallback_keys', (t) => {
    t.text('user_id').notNullable();
    t.text('device_id').notNullable();
    t.text('algorithm').notNullable();
    t.text('key_id').notNullable();
    t.jsonb('key').notNullable();
    t.boolean('used').notNullable().defaultTo(false);
    t.primary(['user_id', 'device_id', 'algorithm']);
  });

  await db.schema.createTable('e2e_cross_signing_keys', (t) => {
    t.text('user_id').notNullable();
    t.text('usage').notNullable(); // master | self_signing | user_signing
    t.text('key_id').notNullable(); // `ed25519:<public key>`
    t.jsonb('key').notNullable();
    t.primary(['user_id', 'usage']);
  });

  // Signatures uploaded through /keys/signatures/upload, merged into the keys at query time
  // (a device that uploads its keys again keeps the signatures others made of them).
  await db.schema.createTable('e2e_signatures', (t) => {
    t.text('target_user_id').notNullable();
    t.text('target_key_id').notNullable(); // a device ID, or a cross-signing public key
    t.text('signer_user_id').notNullable();
    t.text('signer_key_id').notNullable();
    t.text('signature').notNullable();
    t.primary(['target_user_id', 'target_key_id', 'signer_user_id', 'signer_key_id']);
  });

  // One row per change of a user's devices or keys; /sync and /keys/changes read the window.
  await db.schema.createTable('device_list_changes', (t) => {
    t.text('user_id').notNullable();
    t.bigInteger('stream_pos').notNullable();
    t.primary(['user_id', 'stream_pos']);
    t.index(['stream_pos']);
  });

  await db.schema.createTable('to_device_messages', (t) => {
    t.text('user_id').notNullable();
    t.text('device_id').notNullable();
    t.bigInteger('stream_pos').notNullable();
    t.integer('seq').notNullable(); // order among the messages of one send
    t.text('sender').notNullable();
    t.text('type').notNullable();
    t.jsonb('content').notNullable();
    t.primary(['user_id', 'device_id', 'stream_pos', 'seq']);
  });

  await db.schema.createTable('to_device_txns', (t) => {
    t.text('user_id').notNullable();
    t.text('device_id').notNullable();
    t.text('txn_id').notNullable();
    t.bigInteger('created_ts').notNullable();
    t.primary(['user_id', 'device_id', 'txn_id']);
  });

  await db.schema.createTable('key_backup_versions', (t) => {
    t.text('user_id').notNullable();
    t.bigInteger('version').notNullable();
    t.text('algorithm').notNullable();
    t.jsonb('auth_data').notNullable();
    t.bigInteger('etag').notNullable().defaultTo(0);
    t.boolean('deleted').notNullable().defaultTo(false);
    t.primary(['user_id', 'version']);
  });

  await db.schema.createTable('key_backup_sessions', (t) => {
    t.text('user_id').notNullable();
    t.bigInteger('version').notNullable();
    t.text('room_id').notNullable();
    t.text('session_id').notNullable();
    t.integer('first_message_index').notNullable();
    t.integer('forwarded_count').notNullable();
    t.boolean('is_verified').notNullable();
    t.jsonb('session_data').notNullable();
    t.primary(['user_id', 'version', 'room_id', 'session_id']);
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of [
    'key_backup_sessions', 'key_backup_versions', 'to_device_txns', 'to_device_messages', 'device_list_changes',
    'e2e_signatures', 'e2e_cross_signing_keys', 'e2e_fallback_keys', 'e2e_one_time_keys', 'e2e_device_keys',
  ]) {
    await db.schema.dropTableIfExists(table);
  }
}
