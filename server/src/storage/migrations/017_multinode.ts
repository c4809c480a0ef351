import type { Knex } from 'knex';

// Several nodes on one database.
// - appservice_edus: ephemeral events (typing, receipts, presence) waiting for an application
//   service's next transaction. They happen in the memory of one node while another may hold the
//   service's sending lease, so they meet in the database. A row is taken by a transaction
//   (txn_id set) when the transaction is fixed, carried again by its retries, and deleted when
//   the service acknowledges it. Taking rows rather than a range of ids: ids from two nodes
//   commit out of order, and a range would skip one committed late.
// - periodic_jobs: work every node schedules (media garbage collection) and one runs at a time,
//   claimed with a lease so that a dead node's claim runs out.
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('appservice_edus', (t) => {
    t.bigIncrements('id').primary();
    t.text('as_id').notNullable();
    t.jsonb('edu').notNullable();
    t.bigInteger('txn_id');
    t.index(['as_id', 'txn_id', 'id']);
  });
  await db.schema.createTable('periodic_jobs', (t) => {
    t.text('name').primary();
    t.bigInteger('next_run_ts').notNullable().defaultTo(0);
    t.bigInteger('lease_until');
    t.bigInteger('last_run_ts');
    t.text('last_error');
  });
  // The garbage collector looks for expired reservations.
  await db.raw('CREATE INDEX media_unused_expiry ON media (unused_expires_ts) WHERE sha256 IS NULL');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('DROP INDEX IF EXISTS media_unused_expiry');
  await db.schema.dropTableIfExists('periodic_jobs');
  await db.schema.dropTableIfExists('appservice_edus');
}
