import { describe, expect, it } from 'vitest';
import { MAX_LEXEMES, formatSearchToken, parseSearchToken, prefixQuery } from '../../../src/matrix/search/search-query.ts';

describe('search query building', () => {
  it('asks for every word as a quoted prefix, quotes and backslashes escaped', () => {
    expect(prefixQuery(['crise', 'bâtiment'])).toBe("'crise':* & 'bâtiment':*");
    expect(prefixQuery(["l'eau", 'a\\b', '&|!'])).toBe("'l''eau':* & 'a\\\\b':* & '&|!':*");
    expect(prefixQuery([])).toBeUndefined();
    const many = Array.from({ length: 40 }, (_, i) => `w${i}`);
    expect(prefixQuery(many)!.split(' & ')).toHaveLength(MAX_LEXEMES);
  });

  it('reads back its own tokens and refuses any other', () => {
    expect(parseSearchToken(formatSearchToken({ offset: 30, snapshot: 1234 }))).toEqual({ offset: 30, snapshot: 1234 });
    for (const bad of ['', 'x', 'x1', 'x1_', 'x-1_2', 'y1_2', 'x1_2_3', `x${'1'.repeat(10)}_2`, `x1_${'2'.repeat(16)}`]) {
      expect(() => parseSearchToken(bad)).toThrow(/next_batch/);
    }
  });
});
