import type { Knex } from 'knex';

// The log book (main courante) is kept as m.room.message events of msgtype
// org.tocsin.logbook.entry in the crisis room. Its list and exports read only those: a partial
// index finds them without walking the whole chat of the room.
export async function up(db: Knex): Promise<void> {
  await db.raw(
    "CREATE INDEX events_logbook ON events (room_id, stream_pos) WHERE type = 'm.room.message' AND (json->'content'->>'msgtype') = 'org.tocsin.logbook.entry'",
  );
}

export async function down(db: Knex): Promise<void> {
  await db.raw('DROP INDEX IF EXISTS events_logbook');
}
