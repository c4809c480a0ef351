import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { encryptAes128gcm } from './aes128gcm.ts';

// RFC 8291 encryption off the main thread. Each message costs an ECDH key pair and an ECDH
// (about 0.3 ms of CPU): a fan-out to 10,000 browsers is seconds of one core, during which the
// main thread could not answer requests nor keep the push connections busy. Messages queued
// in the same event-loop turn go to the threads in small lists (one postMessage each), so the
// cost of crossing threads is paid once per list, not per message. With no thread (one core,
// or encryption_workers: 0) or when a thread died, encryption runs inline.

export interface EncryptJob {
  id: number;
  p256dh: string;
  auth: string;
  payload: Uint8Array;
}

export type EncryptResult = { id: number; body: Uint8Array } | { id: number; error: string };

interface Pending {
  job: EncryptJob;
  resolve: (body: Buffer) => void;
  reject: (err: Error) => void;
}

interface Thread {
  worker: Worker;
  inFlight: Map<number, Pending>;
}

/** Messages per postMessage: small enough that results flow back while the rest is encrypted. */
const CHUNK = 32;

/** One thread fewer than the cores (the main thread has HTTP and the database), 4 at most. */
export function defaultEncryptionThreads(): number {
  return Math.max(0, Math.min(4, availableParallelism() - 1));
}

export class EncryptPool {
  readonly #size: number;
  readonly #threads: Thread[] = [];
  #started = false;
  #queue: Pending[] = [];
  #scheduled = false;
  #nextId = 1;
  #closed = false;

  constructor(threads: number) {
    this.#size = threads;
  }

  /** Threads running (started at the first message). */
  get threads(): number {
    return this.#threads.length;
  }

  encrypt(p256dh: string, auth: string, payload: Buffer): Promise<Buffer> {
    if (!this.#started && !this.#closed) {
      this.#started = true;
      for (let i = 0; i < this.#size; i++) this.#threads.push(this.#spawn());
    }
    if (this.#threads.length === 0 || this.#closed) {
      return new Promise((resolve) => resolve(encryptAes128gcm(Buffer.from(p256dh, 'base64url'), Buffer.from(auth, 'base64url'), payload)));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ job: { id: this.#nextId++, p256dh, auth, payload }, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#dispatch());
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const threads = this.#threads.splice(0);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  #spawn(): Thread {
    const worker = new Worker(new URL('./encrypt-worker.ts', import.meta.url));
    const thread: Thread = { worker, inFlight: new Map() };
    worker.unref();
    worker.on('message', (results: EncryptResult[]) => {
      for (const r of results) {
        const p = thread.inFlight.get(r.id);
        if (!p) continue;
        thread.inFlight.delete(r.id);
        if ('body' in r) p.resolve(Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
        else p.reject(new Error(r.error));
      }
      if (thread.inFlight.size === 0) worker.unref();
    });
    const lost = (err: Error) => {
      // The thread is gone: its messages are encrypted here, and so are the next ones.
      const index = this.#threads.indexOf(thread);
      if (index >= 0) this.#threads.splice(index, 1);
      for (const p of thread.inFlight.values()) this.#inline(p);
      thread.inFlight.clear();
      if (!this.#closed && err.message) process.emitWarning(`web push encryption thread stopped: ${err.message}`);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(code === 0 ? '' : `exit code ${code}`)));
    return thread;
  }

  #dispatch(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (let i = 0; i < queue.length; i += CHUNK) {
      const chunk = queue.slice(i, i + CHUNK);
      // The thread with the least work waiting gets the next list.
      const thread = this.#threads.reduce<Thread | undefined>((best, t) => (!best || t.inFlight.size < best.inFlight.size ? t : best), undefined);
      if (!thread) {
        for (const p of chunk) this.#inline(p);
        continue;
      }
      for (const p of chunk) thread.inFlight.set(p.job.id, p);
      thread.worker.ref();
      thread.worker.postMessage(chunk.map((p) => p.job));
    }
  }

  #inline(p: Pending): void {
    try {
      p.resolve(encryptAes128gcm(Buffer.from(p.job.p256dh, 'base64url'), Buffer.from(p.job.auth, 'base64url'), Buffer.from(p.job.payload)));
    } catch (err) {
      p.reject(err as Error);
    }
  }
}
