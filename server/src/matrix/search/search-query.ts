import { MatrixError } from '../../errors.ts';

/** Lexemes of a term beyond this many are ignored (each one widens the index lookup). */
export const MAX_LEXEMES = 16;

/**
 * The tsquery for a search term: every lexeme must be present, each matched as a prefix
 * ("crise" finds "crises"), which stands in for stemming across languages. Lexemes come from
 * PostgreSQL's own parser (storage/search.ts: lexemesOf) and are quoted here, so nothing in
 * the term can reach tsquery syntax. Undefined when the term has no word at all.
 */
export function prefixQuery(lexemes: string[]): string | undefined {
  const words = lexemes.slice(0, MAX_LEXEMES);
  if (words.length === 0) return undefined;
  return words.map((w) => `'${w.replace(/\\/g, '\\\\').replace(/'/g, "''")}':*`).join(' & ');
}

/** A next_batch token: how many visible results were already given, as of which position. */
export interface SearchCursor {
  offset: number;
  snapshot: number;
}

export function formatSearchToken(c: SearchCursor): string {
  return `x${c.offset}_${c.snapshot}`;
}

export function parseSearchToken(s: string): SearchCursor {
  const m = /^x(\d{1,9})_(\d{1,15})$/.exec(s);
  if (!m) throw new MatrixError(400, 'M_INVALID_PARAM', 'Invalid next_batch token.');
  return { offset: Number(m[1]), snapshot: Number(m[2]) };
}
