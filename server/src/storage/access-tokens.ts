import type { Knex } from 'knex';

export interface TokenOwner {
  user_id: string;
  device_id: string;
  admin: boolean;
  deactivated: boolean;
}

export async function insertToken(db: Knex, row: { token_hash: string; user_id: string; device_id: string; created_ts: number }): Promise<void> {
  await db('access_tokens').insert(row);
}

export async function findTokenOwner(db: Knex, tokenHash: string): Promise<TokenOwner | undefined> {
  return db('access_tokens as t')
    .join('users as u', 'u.user_id', 't.user_id')
    .where('t.token_hash', tokenHash)
    .first('t.user_id', 't.device_id', 'u.admin', 'u.deactivated');
}

export async function deleteToken(db: Knex, tokenHash: string): Promise<void> {
  await db('access_tokens').where({ token_hash: tokenHash }).delete();
}

/** Logs a device out, or every device of the user when deviceIds is 'all'. */
export async function deleteTokensOfDevices(db: Knex, userId: string, deviceIds: string[] | 'all', exceptTokenHash?: string): Promise<void> {
  let q = db('access_tokens').where({ user_id: userId });
  if (deviceIds !== 'all') q = q.whereIn('device_id', deviceIds);
  if (exceptTokenHash) q = q.whereNot('token_hash', exceptTokenHash);
  await q.delete();
}
