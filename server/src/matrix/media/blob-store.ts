import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Where media bytes live, addressed by their SHA-256 (hex). The local file system is the one
 * implementation; an S3-compatible store would implement the same three calls (a multipart
 * upload under a temporary key, then a copy to the hash).
 */
export interface BlobStore {
  /**
   * Reads `source` to its end into the store. Throws BlobTooLargeError as soon as more than
   * `maxBytes` arrive, and SourceAbortedError when the source closes early; in both cases
   * nothing is kept and `source` is left as it is (the caller may still answer on its socket).
   * With `expectedBytes` (a declared Content-Length), a source that ends short of it counts
   * as aborted: a half-closed connection must not leave a truncated file.
   */
  put(source: Readable, maxBytes: number, expectedBytes?: number): Promise<StoredBlob>;
  /** The blob's size, or undefined if it is absent. */
  size(sha256: string): Promise<number | undefined>;
  /** The blob's bytes, or an inclusive byte range of them. */
  read(sha256: string, range?: { start: number; end: number }): Readable;
  /** Removes a blob (missing is fine). */
  remove(sha256: string): Promise<void>;
  /** Every blob, with when it was last written (ms since epoch); no order. */
  list(): AsyncIterable<{ sha256: string; writtenMs: number }>;
  /**
   * Removes a blob only if it was last written before `beforeMs`; true when removed. Safe
   * against a put of the same bytes at the same moment (an upload that has not yet recorded
   * its row): the fresh copy survives.
   */
  removeIfOlder(sha256: string, beforeMs: number): Promise<boolean>;
}

export interface StoredBlob {
  sha256: string;
  size: number;
  /** The first bytes (up to 16), to check what the content claims to be. */
  head: Buffer;
}

export class BlobTooLargeError extends Error {}
export class SourceAbortedError extends Error {}

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** A partial upload untouched this long belongs to a crashed process. */
const STALE_PARTIAL_MS = 24 * 3600 * 1000;

/** Blobs under `root/ab/cd/abcd…`; partial uploads under `root/tmp` until complete. */
export class FsBlobStore implements BlobStore {
  readonly #root: string;
  readonly #tmp: string;

  constructor(root: string) {
    this.#root = root;
    this.#tmp = path.join(root, 'tmp');
  }

  /**
   * Creates the directories and drops partial files a crash left behind. Only old ones: with
   * several nodes on one shared volume, another node may be receiving an upload right now.
   */
  async init(now = Date.now()): Promise<void> {
    await mkdir(this.#tmp, { recursive: true });
    for (const name of await readdir(this.#tmp)) {
      const file = path.join(this.#tmp, name);
      const info = await stat(file).catch(() => undefined);
      if (info && now - info.mtimeMs > STALE_PARTIAL_MS) await rm(file, { force: true });
    }
  }

  #pathOf(sha256: string): string {
    // The hash is ours, never the client's; the check only guards against a bug turning a
    // name into a path outside the store.
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return path.join(this.#root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  async put(source: Readable, maxBytes: number, expectedBytes?: number): Promise<StoredBlob> {
    const tmp = path.join(this.#tmp, randomBytes(12).toString('hex'));
    const hash = createHash('sha256');
    let size = 0;
    let head = Buffer.alloc(0);
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new BlobTooLargeError(`over ${maxBytes} bytes`));
        hash.update(chunk);
        if (head.length < 16) head = Buffer.concat([head, chunk.subarray(0, 16 - head.length)]);
        done(null, chunk);
      },
    });
    // `pipe`, not `pipeline`, from the source: a refused upload must not destroy the request,
    // whose socket still has to carry the 413 answer.
    const onError = (err: Error) => counter.destroy(new SourceAbortedError(err.message));
    const onClose = () => {
      if (!source.readableEnded) counter.destroy(new SourceAbortedError('the source closed before its end'));
    };
    source.on('error', onError);
    source.on('close', onClose);
    source.pipe(counter);
    try {
      // flush: the file is fsynced before it is renamed into place.
      await pipeline(counter, createWriteStream(tmp, { flags: 'wx', flush: true }));
      if (expectedBytes !== undefined && size !== expectedBytes) throw new SourceAbortedError(`got ${size} of ${expectedBytes} bytes`);
      const sha256 = hash.digest('hex');
      const final = this.#pathOf(sha256);
      await mkdir(path.dirname(final), { recursive: true });
      // Same name, same bytes: replacing an existing copy is harmless and atomic.
      await rename(tmp, final);
      return { sha256, size, head };
    } catch (err) {
      source.unpipe(counter);
      await rm(tmp, { force: true });
      throw err;
    } finally {
      source.off('error', onError);
      source.off('close', onClose);
    }
  }

  async size(sha256: string): Promise<number | undefined> {
    try {
      return (await stat(this.#pathOf(sha256))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  read(sha256: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.#pathOf(sha256), range ? { start: range.start, end: range.end } : {});
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.#pathOf(sha256), { force: true });
  }

  async *list(): AsyncIterable<{ sha256: string; writtenMs: number }> {
    const dirs = async (dir: string, pattern: RegExp) => (await readdir(dir).catch(() => [] as string[])).filter((n) => pattern.test(n));
    for (const a of await dirs(this.#root, /^[0-9a-f]{2}$/)) {
      for (const b of await dirs(path.join(this.#root, a), /^[0-9a-f]{2}$/)) {
        const dir = path.join(this.#root, a, b);
        for (const name of await dirs(dir, SHA256_HEX)) {
          const info = await stat(path.join(dir, name)).catch(() => undefined);
          if (info?.isFile()) yield { sha256: name, writtenMs: info.mtimeMs };
        }
      }
    }
  }

  async removeIfOlder(sha256: string, beforeMs: number): Promise<boolean> {
    const file = this.#pathOf(sha256);
    // Moved aside first, then judged: a put of the same bytes renames its fresh file onto the
    // name either before the move (the moved file is fresh: it goes back) or after (the new
    // file is untouched). Either way the bytes an upload is about to record stay in place.
    const aside = path.join(this.#tmp, `gc-${sha256}-${randomBytes(6).toString('hex')}`);
    try {
      await rename(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    const info = await stat(aside);
    if (info.mtimeMs >= beforeMs) {
      // Same name, same bytes: putting it back over a newer copy is harmless.
      await rename(aside, file);
      return false;
    }
    await rm(aside, { force: true });
    return true;
  }
}
