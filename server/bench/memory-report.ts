/**
 * Preloaded into the server for a bench run (BENCH_NODE_ARGS="--import ./bench/memory-report.ts",
 * BENCH_MEMORY_FILE=path): every second, the peaks of RSS and of the parts of it Node can name
 * (V8 heap used and reserved, external and array buffers) are written to the file, to tell what
 * a peak RSS is made of. Bench only: the server itself never loads this.
 */
import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const file = process.env.BENCH_MEMORY_FILE ?? `/tmp/tocsin-memory-${process.pid}.json`;
const peak: Record<string, number> = {};
const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
setInterval(() => {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [`space_${s.space_name}`, s.space_size]));
  const now: Record<string, number> = { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, ...spaces };
  // The parts at the moment RSS peaked, and each part's own peak.
  if (now.rss! >= (peak.rss ?? 0) * 1024 * 1024) for (const [k, v] of Object.entries(now)) peak[`at_rss_peak_${k}`] = mb(v);
  for (const [k, v] of Object.entries(now)) peak[k] = Math.max(peak[k] ?? 0, mb(v));
  writeFileSync(file, JSON.stringify(peak, null, 1));
}, 1000).unref();
