import { parentPort } from 'node:worker_threads';
import { encryptAes128gcm } from './aes128gcm.ts';
import type { EncryptJob, EncryptResult } from './encrypt-pool.ts';

// A thread of the web-push encryption pool: takes a list of messages, answers with their
// encrypted bodies (or why one could not be encrypted), in the same order.

const view = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

parentPort!.on('message', (jobs: EncryptJob[]) => {
  const results: EncryptResult[] = jobs.map((job) => {
    try {
      const body = encryptAes128gcm(Buffer.from(job.p256dh, 'base64url'), Buffer.from(job.auth, 'base64url'), view(job.payload));
      return { id: job.id, body };
    } catch (err) {
      return { id: job.id, error: (err as Error).message };
    }
  });
  parentPort!.postMessage(results);
});
