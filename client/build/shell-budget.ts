import { gzipSync } from 'node:zlib';

/** The first screen's JavaScript and CSS, gzipped, must stay under this (issue: load on 2G). */
export const SHELL_BUDGET_BYTES = 60 * 1024;

export interface ChunkInfo {
  fileName: string;
  code: string;
  isEntry: boolean;
  imports: string[];
  css: string[];
}

/**
 * The files a first load fetches: the entry chunk, the chunks it imports statically (not the
 * lazy ones: console, chat), and their CSS. Gzip level 6 is what the server's compression sends.
 */
export function shellFiles(chunks: ChunkInfo[]): string[] {
  const byName = new Map(chunks.map((c) => [c.fileName, c]));
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const chunk = byName.get(name);
    for (const css of chunk?.css ?? []) seen.add(css);
    for (const dep of chunk?.imports ?? []) visit(dep);
  };
  for (const c of chunks) if (c.isEntry) visit(c.fileName);
  return [...seen].sort();
}

export function gzipSize(content: string | Uint8Array): number {
  return gzipSync(content, { level: 6 }).length;
}
