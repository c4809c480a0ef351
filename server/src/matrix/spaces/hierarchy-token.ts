import { invalidParam } from '../../errors.ts';

/** What a hierarchy request walks; a `from` token only continues the same walk. */
export interface WalkParams {
  root: string;
  maxDepth: number;
  suggestedOnly: boolean;
}

const PREFIX = 'h1_';

/**
 * The token holds the walk's parameters and how many rooms were already returned: the next
 * page walks the tree again and skips them. Nothing is kept on the server, so any node behind
 * the load balancer answers the next page, and a forged token can only ask for a page of rooms
 * the requester may see anyway (access is checked on every page).
 */
export function formatHierarchyToken(p: WalkParams, skip: number): string {
  return PREFIX + Buffer.from(JSON.stringify([p.root, p.maxDepth, p.suggestedOnly, skip])).toString('base64url');
}

/** The number of rooms to skip; 400 M_INVALID_PARAM for a foreign, broken or mismatched token. */
export function parseHierarchyToken(token: string, p: WalkParams, maxSkip: number): number {
  let parsed: unknown;
  try {
    if (!token.startsWith(PREFIX) || token.length > 2048) throw new Error('not ours');
    parsed = JSON.parse(Buffer.from(token.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw invalidParam('Unknown from token.');
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) throw invalidParam('Unknown from token.');
  const [root, maxDepth, suggestedOnly, skip] = parsed as unknown[];
  if (!Number.isSafeInteger(skip) || (skip as number) < 0 || (skip as number) > maxSkip) throw invalidParam('Unknown from token.');
  if (root !== p.root) throw invalidParam('This from token belongs to another room.');
  if (maxDepth !== p.maxDepth || suggestedOnly !== p.suggestedOnly) {
    throw invalidParam('suggested_only and max_depth cannot change on paginated requests.');
  }
  return skip as number;
}
