import type { Knex } from 'knex';

export async function alertRoomOf(db: Knex, userId: string): Promise<string | undefined> {
  const row = await db('alert_rooms').where({ user_id: userId }).first('room_id');
  return row?.room_id;
}

export async function insertAlertRoom(db: Knex, userId: string, roomId: string): Promise<void> {
  await db('alert_rooms').insert({ user_id: userId, room_id: roomId }).onConflict('user_id').ignore();
}

export async function userOfAlertRoom(db: Knex, roomId: string): Promise<string | undefined> {
  const row = await db('alert_rooms').where({ room_id: roomId }).first('user_id');
  return row?.user_id;
}

/** Records the alert's message in a crisis room of its audience. */
export async function insertRoomPost(db: Knex, post: { event_id: string; alert_id: string; room_id: string }): Promise<void> {
  await db('alert_room_posts').insert(post).onConflict('event_id').ignore();
}

export async function roomPost(db: Knex, eventId: string): Promise<{ alert_id: string; room_id: string } | undefined> {
  return db('alert_room_posts').where({ event_id: eventId }).first('alert_id', 'room_id');
}
