import type { Knex } from 'knex';

export async function insertAlias(db: Knex, alias: string, roomId: string, creator: string): Promise<boolean> {
  const rows = await db('room_aliases').insert({ alias, room_id: roomId, creator }).onConflict('alias').ignore().returning('alias');
  return rows.length > 0;
}

export async function findAlias(db: Knex, alias: string): Promise<{ alias: string; room_id: string; creator: string } | undefined> {
  return db('room_aliases').where({ alias }).first();
}

export async function deleteAlias(db: Knex, alias: string): Promise<void> {
  await db('room_aliases').where({ alias }).delete();
}

export async function aliasesOfRoom(db: Knex, roomId: string): Promise<string[]> {
  const rows = await db('room_aliases').where({ room_id: roomId }).orderBy('alias').select('alias');
  return rows.map((r: { alias: string }) => r.alias);
}

/** Points every alias of a room at another room (a room upgrade moves them); returns them. */
export async function moveAliases(db: Knex, fromRoomId: string, toRoomId: string): Promise<string[]> {
  const rows = await db('room_aliases').where({ room_id: fromRoomId }).update({ room_id: toRoomId }).returning('alias');
  return rows.map((r: { alias: string }) => r.alias);
}
