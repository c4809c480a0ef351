import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';

/** A random secret shared by every node on the database, created on first use. */
export async function serverSecret(db: Knex, name: string): Promise<Buffer> {
  const fresh = randomBytes(32).toString('base64url');
  await db('server_secrets').insert({ name, value: fresh }).onConflict('name').ignore();
  const row = await db('server_secrets').where({ name }).first('value');
  return Buffer.from(row.value as string, 'base64url');
}
