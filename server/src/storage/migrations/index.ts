import type { Knex } from 'knex';
import * as core from './001_core.ts';
import * as crisis from './002_crisis.ts';
import * as push from './006_push.ts';
import * as appservice from './007_appservice.ts';

interface Migration {
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

// Listed here rather than discovered on disk: the same list runs on PGlite and PostgreSQL,
// and type-stripped .ts files need no loader.
const migrations: Array<[string, Migration]> = [
  ['001_core', core],
  ['002_crisis', crisis],
  ['006_push', push],
  ['007_appservice', appservice],
];

export const migrationSource: Knex.MigrationSource<[string, Migration]> = {
  getMigrations: async () => migrations,
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};
