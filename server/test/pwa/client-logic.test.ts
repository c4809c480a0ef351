import { describe, expect, it } from 'vitest';
import { SHELL_BUDGET_BYTES, gzipSize, shellFiles } from '../../../client/build/shell-budget.ts';

// The client's pure logic that the end-to-end test cannot pin down exactly.

describe('shell budget: which files a first load fetches', () => {
  it('follows static imports and their CSS, never the lazy chunks', () => {
    const files = shellFiles([
      { fileName: 'assets/index.js', code: '', isEntry: true, imports: ['assets/vendor.js'], css: ['assets/index.css'] },
      { fileName: 'assets/vendor.js', code: '', isEntry: false, imports: ['assets/index.js'], css: [] },
      { fileName: 'assets/console.js', code: '', isEntry: false, imports: ['assets/vendor.js'], css: ['assets/console.css'] },
    ]);
    expect(files).toEqual(['assets/index.css', 'assets/index.js', 'assets/vendor.js']);
  });

  it('measures gzip as the server sends it, against 60 KB', () => {
    expect(SHELL_BUDGET_BYTES).toBe(60 * 1024);
    expect(gzipSize('a'.repeat(10_000))).toBeLessThan(100);
  });
});
