import type { Knex } from 'knex';
import * as m001Core from './001_core.ts';
import * as m002Crisis from './002_crisis.ts';
import * as m003Directory from './003_directory.ts';
import * as m004Media from './004_media.ts';
import * as m005Keys from './005_keys.ts';
import * as m006Push from './006_push.ts';
import * as m007Appservice from './007_appservice.ts';
import * as m008AlertTemplates from './008_alert_templates.ts';
import * as m010AlertRoomPosts from './010_alert_room_posts.ts';
import * as m011Relations from './011_relations.ts';
import * as m013LazyStepsSmsIds from './013_lazy_steps_sms_ids.ts';
import * as m014AuditLog from './014_audit_log.ts';
import * as m015SearchReports from './015_search_reports.ts';
import * as m016LogbookIndex from './016_logbook_index.ts';
import * as m017Multinode from './017_multinode.ts';

interface Migration {
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

// Listed here rather than discovered on disk: the same list runs on PGlite and PostgreSQL,
// and type-stripped .ts files need no loader.
const migrations: Array<[string, Migration]> = [
  ['001_core', m001Core],
  ['002_crisis', m002Crisis],
  ['003_directory', m003Directory],
  ['004_media', m004Media],
  ['005_keys', m005Keys],
  ['006_push', m006Push],
  ['007_appservice', m007Appservice],
  ['008_alert_templates', m008AlertTemplates],
  ['010_alert_room_posts', m010AlertRoomPosts],
  ['011_relations', m011Relations],
  ['013_lazy_steps_sms_ids', m013LazyStepsSmsIds],
  ['014_audit_log', m014AuditLog],
  ['015_search_reports', m015SearchReports],
  ['016_logbook_index', m016LogbookIndex],
  ['017_multinode', m017Multinode],
];

export const migrationSource: Knex.MigrationSource<[string, Migration]> = {
  getMigrations: async () => migrations,
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};
