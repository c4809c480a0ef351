import type { Knex } from 'knex';

export interface AuditEntry {
  actor: string;
  action: string;
  target_user: string | null;
  details: Record<string, unknown>;
}

export interface AuditRow extends AuditEntry {
  audit_id: number;
  ts: number;
}

export async function insertAudit(db: Knex, entries: AuditEntry[], ts = Date.now()): Promise<void> {
  for (let i = 0; i < entries.length; i += 1000) {
    await db('audit_log').insert(entries.slice(i, i + 1000).map((e) => ({ ...e, ts, details: JSON.stringify(e.details) })));
  }
}

export interface AuditQuery {
  /** Entries older than this id (the `next_batch` of the previous page). */
  before?: number | undefined;
  limit: number;
  actor?: string | undefined;
  target?: string | undefined;
  action?: string | undefined;
}

/** Newest first. */
export async function listAudit(db: Knex, q: AuditQuery): Promise<AuditRow[]> {
  const query = db('audit_log').orderBy('audit_id', 'desc').limit(q.limit);
  if (q.before !== undefined) query.where('audit_id', '<', q.before);
  if (q.actor !== undefined) query.where('actor', q.actor);
  if (q.target !== undefined) query.where('target_user', q.target);
  if (q.action !== undefined) query.where('action', q.action);
  const rows: Array<AuditRow & { details: unknown }> = await query;
  return rows.map((r) => ({
    audit_id: Number(r.audit_id),
    ts: Number(r.ts),
    actor: r.actor,
    action: r.action,
    target_user: r.target_user,
    details: (typeof r.details === 'string' ? JSON.parse(r.details) : r.details) as Record<string, unknown>,
  }));
}
