import type { Knex } from 'knex';

// Relations (edits, reactions, threads, references) are found by the event they point at:
// an index on content.m.relates_to.event_id serves /relations, /threads and the bundled
// aggregations without a column the writer would have to fill.
export async function up(db: Knex): Promise<void> {
  await db.raw(
    "CREATE INDEX events_relates_to ON events ((json->'content'->'m.relates_to'->>'event_id'), stream_pos) WHERE (json->'content'->'m.relates_to'->>'event_id') IS NOT NULL",
  );
}

export async function down(db: Knex): Promise<void> {
  await db.raw('DROP INDEX IF EXISTS events_relates_to');
}
