import type { Knex } from 'knex';

// Directory domain: accounts fed by LDAP or SCIM, their lifecycle, the reports of LDAP runs,
// and the cached hash of the last good directory password (login while LDAP is down).
export async function up(db: Knex): Promise<void> {
  // Suspended (disabled in the directory): no login, no alerts, memberships kept.
  await db.schema.alterTable('users', (t) => {
    t.boolean('suspended').notNullable().defaultTo(false);
  });

  await db.schema.createTable('directory_accounts', (t) => {
    t.text('user_id').primary().references('users.user_id');
    t.text('source').notNullable(); // ldap | scim
    t.text('external_id').notNullable(); // LDAP DN, or the SCIM resource id
    t.text('scim_external_id'); // SCIM externalId, as the identity provider knows the person
    t.integer('missing_syncs').notNullable().defaultTo(0);
    t.boolean('disabled').notNullable().defaultTo(false);
    t.jsonb('attributes').notNullable(); // last values read: display name, contacts, groups
    // argon2id hash of the last directory password that bound successfully, and when.
    t.text('offline_hash');
    t.bigInteger('offline_verified_ts');
    t.bigInteger('updated_ts').notNullable();
    t.unique(['source', 'external_id']);
  });

  // SCIM Groups: the identity provider's id for a Tocsin group (groups.group_id).
  await db.schema.createTable('scim_groups', (t) => {
    t.text('scim_id').primary();
    t.text('group_id').notNullable().unique().references('groups.group_id').onDelete('CASCADE');
    t.text('external_id');
    t.bigInteger('created_ts').notNullable();
  });

  await db.schema.createTable('directory_runs', (t) => {
    t.bigIncrements('run_id');
    t.text('trigger').notNullable(); // api | schedule
    t.text('requested_by');
    t.boolean('dry_run').notNullable();
    t.boolean('forced').notNullable();
    t.text('stopped'); // why the safety net halted it, or null
    t.bigInteger('started_ts').notNullable();
    t.bigInteger('finished_ts');
    t.jsonb('report').notNullable();
    t.index(['started_ts']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('directory_runs');
  await db.schema.dropTableIfExists('scim_groups');
  await db.schema.dropTableIfExists('directory_accounts');
  await db.schema.alterTable('users', (t) => {
    t.dropColumn('suspended');
  });
}
