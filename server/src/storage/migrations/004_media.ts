import type { Knex } from 'knex';

// Media repository: one row per mxc:// URI. The bytes live in a content-addressed blob store
// (DATA_DIR/media by default) under their SHA-256, so the same file uploaded twice is stored
// once and a quarantine can follow the content rather than one URI.
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('media', (t) => {
    t.text('media_id').primary();
    t.text('user_id').notNullable().references('users.user_id');
    t.text('content_type');
    t.text('upload_name');
    t.bigInteger('size');
    t.text('sha256'); // null while a POST /create reservation waits for its bytes
    t.bigInteger('created_ts').notNullable();
    t.bigInteger('unused_expires_ts'); // set on reservations only
    t.bigInteger('uploaded_ts');
    t.bigInteger('quarantined_ts');
    t.text('quarantined_by');
    t.index(['sha256']);
  });
  // Pending reservations per user are counted on every /create.
  await db.raw('CREATE INDEX media_pending ON media (user_id, unused_expires_ts) WHERE sha256 IS NULL');

  await db.schema.createTable('media_thumbnails', (t) => {
    t.text('media_id').notNullable().references('media.media_id').onDelete('CASCADE');
    t.integer('width').notNullable(); // the box asked for (after snapping to the standard sizes)
    t.integer('height').notNullable();
    t.text('method').notNullable(); // crop | scale
    t.text('content_type').notNullable();
    t.text('sha256').notNullable();
    t.bigInteger('size').notNullable();
    t.primary(['media_id', 'width', 'height', 'method']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('media_thumbnails');
  await db.schema.dropTableIfExists('media');
}
