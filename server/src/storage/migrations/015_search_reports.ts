import type { Knex } from 'knex';

// Full-text search over message bodies, room names and topics (/search), and the reports of
// rooms and events that users send to the administrators (/report).
//
// The search index is an expression index over the stored event JSON: nothing for the writer
// to fill, and a redaction, which strips content.body, takes the event out of the index by
// itself. The 'simple' configuration (no stemming) because a crisis cell writes in several
// languages; prefix matching in the query makes up for the missing stemming.
export async function up(db: Knex): Promise<void> {
  await db.raw(
    `CREATE INDEX events_search ON events USING gin ((${SEARCH_VECTOR_SQL}))
     WHERE type IN ('m.room.message', 'm.room.name', 'm.room.topic')`,
  );
  await db.schema.createTable('content_reports', (t) => {
    t.bigIncrements('report_id').primary();
    t.text('reporter').notNullable();
    t.text('room_id').notNullable();
    // Null for a report of a whole room.
    t.text('event_id');
    t.text('event_sender');
    t.text('reason');
    t.integer('score');
    t.bigInteger('received_ts').notNullable();
    t.index(['received_ts']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('content_reports');
  await db.raw('DROP INDEX IF EXISTS events_search');
}

// Kept as text here, not imported: a migration must not change when the code around it does.
const SEARCH_VECTOR_SQL =
  "to_tsvector('simple'::regconfig, coalesce(json->'content'->>'body', '') || ' ' || coalesce(json->'content'->>'name', '') || ' ' || coalesce(json->'content'->>'topic', ''))";
