import type { Knex } from 'knex';

export interface CurrentStateRow {
  room_id: string;
  type: string;
  state_key: string;
  event_id: string;
  stream_pos: number;
}

export async function upsertCurrentState(trx: Knex.Transaction, row: CurrentStateRow): Promise<void> {
  await trx('current_state').insert(row).onConflict(['room_id', 'type', 'state_key']).merge(['event_id', 'stream_pos']);
}

export async function currentStateIds(db: Knex, roomId: string): Promise<CurrentStateRow[]> {
  return db('current_state').where({ room_id: roomId }).orderBy('stream_pos');
}
