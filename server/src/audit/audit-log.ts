import type { Knex } from 'knex';
import { invalidParam } from '../errors.ts';
import type { Logger } from '../logger.ts';
import * as auditRepo from '../storage/audit.ts';
import type { AuditEntry, AuditRow } from '../storage/audit.ts';

// The house rule: every administrative read of someone else's data, and every device
// revocation, leaves an entry in the audit log (a table, readable through the admin API and
// `tocsin audit list`), and a log line for the operator's log collection as before.

/** Writes audit entries (before the data they are about is handed out) and their log lines. */
export async function recordAudit(db: Knex, log: Logger, entries: AuditEntry | AuditEntry[]): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries];
  if (list.length === 0) return;
  await auditRepo.insertAudit(db, list);
  for (const e of list) log.info({ audit: e.action, by: e.actor, subject: e.target_user, ...e.details }, 'audit');
}

export interface AuditPage {
  entries: AuditRow[];
  /** Pass as `from` for the next (older) page; absent on the last page. */
  next_batch?: string;
}

/** Pages through the audit log, newest first; reading it is itself audited. */
export async function readAudit(
  db: Knex,
  log: Logger,
  adminId: string,
  q: { from?: string | undefined; limit?: string | undefined; actor?: string | undefined; user?: string | undefined; action?: string | undefined },
): Promise<AuditPage> {
  const before = q.from === undefined ? undefined : /^\d{1,15}$/.test(q.from) ? Number(q.from) : undefined;
  if (q.from !== undefined && before === undefined) throw invalidParam('`from` must be a next_batch token.');
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalidParam('`limit` must be an integer from 1 to 1000.');
  const entries = await auditRepo.listAudit(db, { before, limit, actor: q.actor, target: q.user, action: q.action });
  await recordAudit(db, log, { actor: adminId, action: 'audit.read', target_user: q.user ?? null, details: { filter: { actor: q.actor, action: q.action }, entries: entries.length } });
  const last = entries.at(-1);
  return { entries, ...(entries.length === limit && last ? { next_batch: String(last.audit_id) } : {}) };
}
