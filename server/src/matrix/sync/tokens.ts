import { MatrixError } from '../../errors.ts';

/** A sync position: the stream position (storage/stream.ts) and the typing serial. */
export interface SyncToken {
  pos: number;
  typing: number;
}

export function formatSyncToken(t: SyncToken): string {
  return `s${t.pos}_${t.typing}`;
}

export function parseSyncToken(s: string): SyncToken {
  const m = /^s(\d{1,15})_(\d{1,15})$/.exec(s);
  if (!m) throw new MatrixError(400, 'M_INVALID_PARAM', 'Invalid sync token.');
  return { pos: Number(m[1]), typing: Number(m[2]) };
}

/**
 * A pagination token for /messages: a position between two events. `s{N}_…` stands between
 * event N and N+1, so sync's prev_batch and next_batch work as /messages tokens too.
 */
export function parsePaginationToken(s: string): number {
  const m = /^[st](\d{1,15})(_\d{1,15})?$/.exec(s);
  if (!m) throw new MatrixError(400, 'M_INVALID_PARAM', 'Invalid pagination token.');
  return Number(m[1]);
}

export function formatPaginationToken(pos: number): string {
  return `t${pos}`;
}
