import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Plugin } from 'vite';
import { SHELL_BUDGET_BYTES, gzipSize, shellFiles, type ChunkInfo } from './shell-budget.ts';

function publicFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...publicFiles(full, `${prefix}/${name}`));
    else out.push(`${prefix}/${name}`);
  }
  return out;
}

/**
 * Two build steps of the PWA:
 * - the service worker (src/sw.js) gets the list of files to precache and a version derived
 *   from their names (hashed), so a new build installs a new worker and drops old caches;
 * - the shell budget: the first screen's JS and CSS, gzipped, are measured and the build fails
 *   above SHELL_BUDGET_BYTES. The figure is printed and written to dist/.vite/shell-size.json.
 */
export function pwaPlugin(root: string): Plugin {
  return {
    name: 'tocsin-pwa',
    apply: 'build',
    generateBundle(_options, bundle) {
      const chunks: ChunkInfo[] = [];
      const sizes = new Map<string, number>();
      for (const item of Object.values(bundle)) {
        if (item.type === 'chunk') {
          chunks.push({
            fileName: item.fileName,
            code: item.code,
            isEntry: item.isEntry,
            imports: item.imports,
            css: [...(item.viteMetadata?.importedCss ?? [])],
          });
          sizes.set(item.fileName, gzipSize(item.code));
        } else if (item.fileName.endsWith('.css')) {
          sizes.set(item.fileName, gzipSize(typeof item.source === 'string' ? item.source : item.source));
        }
      }
      const shell = shellFiles(chunks);
      const total = shell.reduce((sum, f) => sum + (sizes.get(f) ?? 0), 0);
      const lazy = [...sizes.keys()].filter((f) => !shell.includes(f)).sort();
      const report = {
        budget_bytes: SHELL_BUDGET_BYTES,
        shell_gzip_bytes: total,
        shell: Object.fromEntries(shell.map((f) => [f, sizes.get(f) ?? 0])),
        lazy: Object.fromEntries(lazy.map((f) => [f, sizes.get(f) ?? 0])),
      };
      this.emitFile({ type: 'asset', fileName: '.vite/shell-size.json', source: `${JSON.stringify(report, null, 2)}\n` });
      console.log(`shell (first screen JS+CSS, gzip): ${total} bytes of ${SHELL_BUDGET_BYTES} allowed`);
      if (total > SHELL_BUDGET_BYTES) this.error(`the shell is ${total} bytes gzipped, over its budget of ${SHELL_BUDGET_BYTES}`);

      // The shell and everything it needs offline, fetched when the worker installs. The lazy
      // chunks (console, rooms, log book) are a second list the app asks the worker to fetch
      // ahead of use only when the link is not in low-bandwidth mode (src/bandwidth.ts).
      const built = Object.values(bundle)
        .map((i) => `/${i.fileName}`)
        .filter((f) => !f.startsWith('/.vite/') && !f.endsWith('.map') && f !== '/index.html');
      const lazyUrls = new Set(lazy.map((f) => `/${f}`));
      const precache = ['/', ...built.filter((f) => !lazyUrls.has(f)), ...publicFiles(path.join(root, 'public'))].sort();
      const lazyList = built.filter((f) => lazyUrls.has(f)).sort();
      const version = createHash('sha256').update(precache.join('\n')).update(lazyList.join('\n')).update(readFileSync(path.join(root, 'src/sw.js'))).digest('hex').slice(0, 12);
      const source = readFileSync(path.join(root, 'src/sw.js'), 'utf8')
        .replace('self.__PRECACHE__', JSON.stringify(precache))
        .replace('self.__LAZY__', JSON.stringify(lazyList))
        .replace('self.__VERSION__', JSON.stringify(version));
      this.emitFile({ type: 'asset', fileName: 'sw.js', source });
    },
  };
}
