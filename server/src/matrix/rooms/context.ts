import type { Knex } from 'knex';
import type { AccountService } from '../auth/accounts.ts';
import type { EventWriter } from '../timeline/append.ts';

/** What the room services need from the rest of the server. */
export interface RoomContext {
  db: Knex;
  serverName: string;
  writer: EventWriter;
  accounts: AccountService;
}
