/**
 * Media benchmark. Run from the repository root:
 *
 *   sh scripts/node.sh server/bench/media.ts
 *
 * Starts the real server as a child process on a fresh embedded database (or PostgreSQL),
 * then: uploads BENCH_FILES files of 10 MB one after the other and downloads each back
 * (throughput in MB/s, every byte compared), then streams one upload of BENCH_BIG_MB (100 MB)
 * while sampling the server's resident memory (/proc/<pid>/status VmRSS every 20 ms). The
 * figure that matters is how far RSS rises above its level before the big upload: an upload
 * buffered in memory would add its own size. Writes server/bench/results/media.{json,md}.
 *
 * Settings (environment, or --name=value with the same name in lower case without BENCH_):
 *   BENCH_DB=pglite|postgres  BENCH_FILES=10  BENCH_BIG_MB=100
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test  BENCH_OUT=<dir>
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freshDatabase, memoryOf, serverDir, startServerProcess } from './support.ts';

const argv = new Map(
  process.argv
    .slice(2)
    .map((a) => /^--([a-z_-]+)=(.*)$/.exec(a))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [`BENCH_${m[1]!.replace(/-/g, '_').toUpperCase()}`, m[2]!]),
);
const setting = (name: string, fallback: string) => argv.get(name) ?? process.env[name] ?? fallback;
const cfg = {
  db: setting('BENCH_DB', 'pglite') as 'pglite' | 'postgres',
  files: Number(setting('BENCH_FILES', '10')),
  bigMb: Number(setting('BENCH_BIG_MB', '100')),
  pgUrl: setting('BENCH_PG_URL', 'postgres://postgres@127.0.0.1:5432/test'),
  out: setting('BENCH_OUT', path.join(serverDir, 'bench', 'results')),
};
const MB = 1024 * 1024;

/** Streams `total` bytes of `chunk` repeated, as a POST /upload; resolves with the mxc URI. */
function streamUpload(base: string, token: string, total: number, chunk: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/_matrix/media/v3/upload?filename=big.bin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(total) },
    }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body).content_uri) : reject(new Error(`upload: ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const part = chunk.subarray(0, Math.min(chunk.length, total - sent));
        sent += part.length;
        if (!req.write(part)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

async function main(): Promise<void> {
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'tocsin-bench-media-'));
  const db = await freshDatabase(cfg.db, cfg.pgUrl);
  const configFile = path.join(logDir, 'tocsin.yaml');
  writeFileSync(configFile, `media:\n  max_upload_bytes: ${(cfg.bigMb + 1) * MB}\n`);
  const server = await startServerProcess({ ...db.env, TOCSIN_CONFIG: configFile }, { logDir });
  try {
    const reg = await fetch(`${server.url}/_matrix/client/v3/register`, {
      method: 'POST',
      body: JSON.stringify({ username: `bench${process.pid}`, password: 'bench password', auth: { type: 'm.login.dummy' } }),
    });
    const { access_token: token } = (await reg.json()) as { access_token: string };
    const auth = { authorization: `Bearer ${token}` };

    const idle = memoryOf(server.pid);
    // 1. 10 MB files: upload all, then download all.
    const files = Array.from({ length: cfg.files }, (_v, i) => Buffer.alloc(10 * MB, i + 1));
    const uris: string[] = [];
    let t = performance.now();
    for (const file of files) uris.push(await streamUpload(server.url, token, file.length, file));
    const uploadS = (performance.now() - t) / 1000;
    const afterUploads = memoryOf(server.pid);
    t = performance.now();
    for (const [i, uri] of uris.entries()) {
      const res = await fetch(`${server.url}/_matrix/client/v1/media/download/${uri.slice(6)}`, { headers: auth });
      const got = Buffer.from(await res.arrayBuffer());
      if (!got.equals(files[i]!)) throw new Error(`download ${i} differs`);
    }
    const downloadS = (performance.now() - t) / 1000;
    const afterDownloads = memoryOf(server.pid);

    // 2. One big streamed upload, RSS sampled meanwhile.
    await new Promise((r) => setTimeout(r, 500));
    const before = memoryOf(server.pid);
    let peakRss = before.rssMb;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, memoryOf(server.pid).rssMb);
    }, 20);
    const chunk = Buffer.alloc(MB, 0x5a);
    t = performance.now();
    const bigUri = await streamUpload(server.url, token, cfg.bigMb * MB, chunk);
    const bigS = (performance.now() - t) / 1000;
    clearInterval(sampler);
    peakRss = Math.max(peakRss, memoryOf(server.pid).rssMb);
    // The big file comes back whole (hashed here rather than held).
    const res = await fetch(`${server.url}/_matrix/client/v1/media/download/${bigUri.slice(6)}`, { headers: auth });
    const hash = createHash('sha256');
    let size = 0;
    for await (const part of res.body!) {
      hash.update(part);
      size += part.length;
    }
    const expected = createHash('sha256');
    for (let i = 0; i < cfg.bigMb; i++) expected.update(chunk);
    if (size !== cfg.bigMb * MB || hash.digest('hex') !== expected.digest('hex')) throw new Error('big download differs');

    const result = {
      date: new Date().toISOString(),
      database: cfg.db,
      cpus: os.cpus().length,
      files10mb: cfg.files,
      uploadMBps: Math.round(((cfg.files * 10) / uploadS) * 10) / 10,
      downloadMBps: Math.round(((cfg.files * 10) / downloadS) * 10) / 10,
      bigUploadMb: cfg.bigMb,
      bigUploadSeconds: Math.round(bigS * 100) / 100,
      rssIdleMb: Math.round(idle.rssMb),
      rssAfterUploadsMb: Math.round(afterUploads.rssMb),
      rssAfterDownloadsMb: Math.round(afterDownloads.rssMb),
      rssBeforeMb: Math.round(before.rssMb),
      rssPeakDuringMb: Math.round(peakRss),
      rssRiseMb: Math.round(peakRss - before.rssMb),
    };
    mkdirSync(cfg.out, { recursive: true });
    writeFileSync(path.join(cfg.out, 'media.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(
      path.join(cfg.out, 'media.md'),
      [
        `# Media benchmark (${result.date}, ${result.database}, ${result.cpus} CPUs shared)`,
        '',
        '| measure | value |',
        '|---|---|',
        `| upload, ${cfg.files} x 10 MB one after the other | ${result.uploadMBps} MB/s |`,
        `| download of the same | ${result.downloadMBps} MB/s |`,
        `| one ${cfg.bigMb} MB streamed upload | ${result.bigUploadSeconds} s |`,
        `| server RSS before it | ${result.rssBeforeMb} MB |`,
        `| server RSS peak during it (sampled every 20 ms) | ${result.rssPeakDuringMb} MB |`,
        `| rise | ${result.rssRiseMb} MB |`,
        '',
      ].join('\n'),
    );
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await server.stop();
    await db.drop();
  }
}

await main();
