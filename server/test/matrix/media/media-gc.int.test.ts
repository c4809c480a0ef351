// Media garbage collection against a real server: expired POST /create reservations go, blobs
// that nothing refers to go (once old enough), everything else stays, quarantine included.
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/matrix/media/blob-store.ts';
import { findMedia } from '../../../src/storage/media.ts';
import { findJob } from '../../../src/storage/periodic-jobs.ts';
import { registerAdmin, type TestUser } from '../../support/client.ts';
import { closeAllTestServers, startTestServer, type TestServer } from '../../support/server.ts';
import { CallLog, SpecApi, expectError, ok, registerSpecUser, type SpecUser } from '../../support/spec-client.ts';

const MEDIA = '/_matrix/client/v1/media';
const HOUR = 3600_000;

describe('media garbage collection', () => {
  let server: TestServer;
  const log = new CallLog();
  let alice: SpecUser;
  let admin: TestUser;
  let store: FsBlobStore;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await registerSpecUser(server.url, log);
    admin = await registerAdmin(server.url, `gcadmin${process.pid}`);
    // The server's own store directory, opened a second time as another node would.
    store = new FsBlobStore(path.join(server.env.DATA_DIR!, 'media'));
  });

  afterAll(closeAllTestServers);

  async function upload(body: string): Promise<string> {
    const res = await fetch(`${server.url}/_matrix/media/v3/upload`, { method: 'POST', headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'text/plain' }, body });
    expect(res.status).toBe(200);
    return ((await res.json()) as { content_uri: string }).content_uri;
  }
  const idOf = (mxc: string) => mxc.slice('mxc://localhost/'.length);
  const shaOf = async (mxc: string) => (await findMedia(server.services.db, idOf(mxc)))!.sha256!;
  /** A blob as an interrupted upload leaves it: bytes in the store, no row. */
  async function orphan(text: string, ageMs: number): Promise<string> {
    const blob = await store.put(Readable.from([Buffer.from(text)]), 1 << 20);
    const file = path.join(server.env.DATA_DIR!, 'media', blob.sha256.slice(0, 2), blob.sha256.slice(2, 4), blob.sha256);
    const when = new Date(Date.now() - ageMs);
    await utimes(file, when, when);
    return blob.sha256;
  }

  it('deletes expired reservations and unreferenced old blobs, and keeps the rest', async () => {
    const kept = await upload(`kept ${Math.random()}`);
    const quarantined = await upload(`evidence ${Math.random()}`);
    const adminApi = new SpecApi(server.url, admin.token, log);
    ok(await adminApi.call('POST', `/_tocsin/v1/admin/media/${quarantined.slice(6)}/quarantine`, { offSpec: true }));
    const reserved = ok(await alice.api.post('/_matrix/media/v1/create', {})).content_uri as string;
    const waiting = ok(await alice.api.post('/_matrix/media/v1/create', {})).content_uri as string;
    // The first reservation's unused_expires_at has passed (as if a day went by).
    await server.services.db('media').where({ media_id: idOf(reserved) }).update({ unused_expires_ts: Date.now() - 1000 });
    const old = await orphan(`old orphan ${Math.random()}`, 2 * HOUR);
    const fresh = await orphan(`fresh orphan ${Math.random()}`, 0);
    // Old bytes that a row still uses: the blob's age alone must not condemn it.
    await utimes(path.join(server.env.DATA_DIR!, 'media', (await shaOf(kept)).slice(0, 2), (await shaOf(kept)).slice(2, 4), await shaOf(kept)), new Date(0), new Date(0));

    const result = await server.services.mediaGc.gc.run();
    expect(result.expiredReservations).toBe(1);
    expect(result.removedBlobs).toBe(1);
    expect(result.removedBytes).toBeGreaterThan(0);

    expect(await findMedia(server.services.db, idOf(reserved))).toBeUndefined();
    expectError(await alice.api.call('PUT', `/_matrix/media/v3/upload/localhost/${idOf(reserved)}`, { body: 'late', headers: { 'content-type': 'text/plain' } }), 404, 'M_NOT_FOUND');
    expect(await findMedia(server.services.db, idOf(waiting))).toBeDefined();
    expect(await store.size(old)).toBeUndefined();
    expect(await store.size(fresh)).toBeDefined();
    expect(await store.size(await shaOf(kept))).toBeDefined();
    expect(await store.size(await shaOf(quarantined))).toBeDefined();
    const download = (mxc: string) => fetch(`${server.url}${MEDIA}/download/${mxc.slice(6)}`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect((await download(kept)).status).toBe(200);
    expect((await download(quarantined)).status).toBe(404);

    // A blob rewritten by an upload of the same bytes just before its removal stays.
    expect(await store.removeIfOlder(fresh, Date.now() - HOUR)).toBe(false);
    expect(await store.size(fresh)).toBeDefined();

    // A second run finds nothing more to do.
    expect(await server.services.mediaGc.gc.run()).toEqual({ expiredReservations: 0, removedBlobs: 0, removedBytes: 0 });
  });

  it('is scheduled as a durable periodic job', async () => {
    const job = await findJob(server.services.db, 'media-gc');
    expect(job).toBeDefined();
    // Due later than now: the first run waits one interval after the installation's first start.
    expect(job!.next_run_ts).toBeGreaterThan(Date.now());
    expect(await server.services.mediaGc.job.tick()).toBe(false);
  });
});
