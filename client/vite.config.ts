import { defineConfig } from 'vite';
import { pwaPlugin } from './build/pwa-plugin.ts';

const root = import.meta.dirname;

export default defineConfig({
  root,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    // The polyfill would be an inline script, which the CSP forbids; every target browser has modulepreload.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    assetsInlineLimit: 0,
  },
  plugins: [pwaPlugin(root)],
});
