import type { Knex } from 'knex';

export interface RoomRow {
  room_id: string;
  room_version: string;
  creator: string;
  published: boolean;
  created_ts: number;
}

export async function insertRoom(trx: Knex, row: RoomRow): Promise<void> {
  await trx('rooms').insert(row);
}

export async function findRoom(db: Knex, roomId: string): Promise<RoomRow | undefined> {
  return db('rooms').where({ room_id: roomId }).first();
}

export async function setPublished(db: Knex, roomId: string, published: boolean): Promise<void> {
  await db('rooms').where({ room_id: roomId }).update({ published });
}

export async function publishedRooms(db: Knex, limit: number, offset: number): Promise<RoomRow[]> {
  return db('rooms').where({ published: true }).orderBy('created_ts', 'desc').limit(limit).offset(offset);
}
