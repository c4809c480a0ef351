import { describe, expect, it } from 'vitest';
import { groupsSummary } from '../../../src/crisis/directory/directory-sync.ts';

describe('directory run report', () => {
  it('keeps member names of group changes up to a budget, then counts only', () => {
    const groups = [
      { group: 'a', added: ['@1:x', '@2:x', '@3:x'], removed: ['@4:x'] },
      { group: 'b', added: ['@5:x', '@6:x'], removed: [] },
      { group: 'c', added: [], removed: ['@7:x'] },
    ];
    expect(groupsSummary(groups, 100)).toEqual(groups);
    expect(groupsSummary(groups, 5)).toEqual([
      { group: 'a', added: ['@1:x', '@2:x', '@3:x'], removed: ['@4:x'] },
      { group: 'b', added: ['@5:x'], removed: [], added_count: 2, removed_count: 0, truncated: true },
      { group: 'c', added: [], removed: [], added_count: 0, removed_count: 1, truncated: true },
    ]);
  });
});
