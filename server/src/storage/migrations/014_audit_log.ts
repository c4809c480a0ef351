import type { Knex } from 'knex';

// The audit log (administrative reads of someone else's data, device revocations, directory
// lifecycle actions), the claim that keeps one LDAP sync running at a time across nodes, and a
// fingerprint of each directory account's attributes (a sync of 100,000 people compares
// fingerprints, and reads the attributes of the few that differ).
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('directory_accounts', (t) => {
    t.text('fingerprint');
  });

  await db.schema.createTable('audit_log', (t) => {
    t.bigIncrements('audit_id');
    t.bigInteger('ts').notNullable();
    t.text('actor').notNullable(); // a user id, or a name for the server's own work ("directory-sync")
    t.text('action').notNullable(); // devices.read, device.revoke, contacts.read, ...
    t.text('target_user'); // whose data was read or changed
    t.jsonb('details').notNullable();
    t.index(['target_user', 'audit_id']);
    t.index(['actor', 'audit_id']);
  });

  // One row per kind of sync: who holds it and until when (renewed while the run goes on), and
  // the last schedule slot claimed, so that nodes firing the same cron tick run it once.
  await db.schema.createTable('directory_sync_claims', (t) => {
    t.text('name').primary();
    t.text('holder');
    t.bigInteger('expires_ts').notNullable().defaultTo(0);
    t.bigInteger('last_slot');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('directory_sync_claims');
  await db.schema.dropTableIfExists('audit_log');
  await db.schema.alterTable('directory_accounts', (t) => {
    t.dropColumn('fingerprint');
  });
}
