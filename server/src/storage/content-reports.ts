import type { Knex } from 'knex';

export interface ContentReport {
  report_id: number;
  reporter: string;
  room_id: string;
  event_id: string | null;
  event_sender: string | null;
  reason: string | null;
  score: number | null;
  received_ts: number;
}

export async function insertReport(db: Knex, report: Omit<ContentReport, 'report_id'>): Promise<number> {
  const [row] = await db('content_reports').insert(report).returning('report_id');
  return Number((row as { report_id: number | string }).report_id);
}

/** Reports newest first, below `before` (a report id) when given. */
export async function listReports(db: Knex, opts: { before?: number | undefined; limit: number }): Promise<ContentReport[]> {
  let q = db('content_reports');
  if (opts.before !== undefined) q = q.where('report_id', '<', opts.before);
  const rows = await q.orderBy('report_id', 'desc').limit(opts.limit).select('*');
  return rows.map((r: Record<string, unknown>) => ({
    ...(r as unknown as ContentReport),
    report_id: Number(r.report_id),
    received_ts: Number(r.received_ts),
    score: r.score === null ? null : Number(r.score),
  }));
}
