import type { Knex } from 'knex';

export interface MediaRow {
  media_id: string;
  user_id: string;
  content_type: string | null;
  upload_name: string | null;
  size: number | null;
  sha256: string | null;
  created_ts: number;
  unused_expires_ts: number | null;
  uploaded_ts: number | null;
  quarantined_ts: number | null;
  quarantined_by: string | null;
}

export interface ThumbnailRow {
  media_id: string;
  width: number;
  height: number;
  method: string;
  content_type: string;
  sha256: string;
  size: number;
}

export interface UploadedContent {
  contentType: string | null;
  uploadName: string | null;
  size: number;
  sha256: string;
}

export async function findMedia(db: Knex, mediaId: string): Promise<MediaRow | undefined> {
  return db('media').where({ media_id: mediaId }).first();
}

/** A new URI with its content (POST /upload). Content already quarantined stays quarantined. */
export async function insertUploaded(db: Knex, mediaId: string, userId: string, c: UploadedContent, now: number): Promise<void> {
  const quarantine = await quarantineOfContent(db, c.sha256);
  await db('media').insert({
    media_id: mediaId,
    user_id: userId,
    content_type: c.contentType,
    upload_name: c.uploadName,
    size: c.size,
    sha256: c.sha256,
    created_ts: now,
    uploaded_ts: now,
    quarantined_ts: quarantine?.quarantined_ts ?? null,
    quarantined_by: quarantine?.quarantined_by ?? null,
  });
}

/** A reservation without content (POST /create). */
export async function insertReservation(db: Knex, mediaId: string, userId: string, now: number, expiresTs: number): Promise<void> {
  await db('media').insert({ media_id: mediaId, user_id: userId, created_ts: now, unused_expires_ts: expiresTs });
}

export async function countPendingReservations(db: Knex, userId: string, now: number): Promise<number> {
  const row = await db('media').where({ user_id: userId }).whereNull('sha256').where('unused_expires_ts', '>', now).count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/** Fills a reservation; false when it was filled meanwhile (or has expired). */
export async function fillReservation(db: Knex, mediaId: string, c: UploadedContent, now: number): Promise<boolean> {
  const quarantine = await quarantineOfContent(db, c.sha256);
  const n = await db('media')
    .where({ media_id: mediaId })
    .whereNull('sha256')
    .where('unused_expires_ts', '>', now)
    .update({
      content_type: c.contentType,
      upload_name: c.uploadName,
      size: c.size,
      sha256: c.sha256,
      uploaded_ts: now,
      unused_expires_ts: null,
      quarantined_ts: quarantine?.quarantined_ts ?? null,
      quarantined_by: quarantine?.quarantined_by ?? null,
    });
  return n === 1;
}

async function quarantineOfContent(db: Knex, sha256: string): Promise<Pick<MediaRow, 'quarantined_ts' | 'quarantined_by'> | undefined> {
  return db('media').where({ sha256 }).whereNotNull('quarantined_ts').first('quarantined_ts', 'quarantined_by');
}

/**
 * Quarantines a URI and every other URI with the same bytes (a re-upload gets a new URI but
 * not a way around the admin). Returns the URIs now quarantined.
 */
export async function quarantine(db: Knex, mediaId: string, by: string, now: number): Promise<string[]> {
  const row = await findMedia(db, mediaId);
  if (!row) return [];
  const q = db('media').whereNull('quarantined_ts');
  if (row.sha256) q.where({ sha256: row.sha256 });
  else q.where({ media_id: mediaId });
  const rows = await q.update({ quarantined_ts: now, quarantined_by: by }).returning('media_id');
  return rows.map((r: { media_id: string }) => r.media_id);
}

/** Lifts the quarantine of a URI and of every URI with the same bytes. */
export async function unquarantine(db: Knex, mediaId: string): Promise<string[]> {
  const row = await findMedia(db, mediaId);
  if (!row) return [];
  const q = db('media').whereNotNull('quarantined_ts');
  if (row.sha256) q.where({ sha256: row.sha256 });
  else q.where({ media_id: mediaId });
  const rows = await q.update({ quarantined_ts: null, quarantined_by: null }).returning('media_id');
  return rows.map((r: { media_id: string }) => r.media_id);
}

export async function findThumbnail(db: Knex, mediaId: string, width: number, height: number, method: string): Promise<ThumbnailRow | undefined> {
  return db('media_thumbnails').where({ media_id: mediaId, width, height, method }).first();
}

export async function insertThumbnail(db: Knex, row: ThumbnailRow): Promise<void> {
  await db('media_thumbnails').insert(row).onConflict(['media_id', 'width', 'height', 'method']).ignore();
}

/**
 * Deletes reservations (POST /create) whose `unused_expires_at` has passed without an upload;
 * returns their ids. A batch at a time, so that a large backlog makes no long transaction.
 */
export async function deleteExpiredReservations(db: Knex, now: number, limit: number): Promise<string[]> {
  const result = await db.raw(
    `DELETE FROM media WHERE media_id IN (
       SELECT media_id FROM media WHERE sha256 IS NULL AND unused_expires_ts <= ? ORDER BY unused_expires_ts LIMIT ?)
     RETURNING media_id`,
    [now, limit],
  );
  return (result.rows as Array<{ media_id: string }>).map((r) => r.media_id);
}

/** Among `hashes`, those some media or thumbnail row refers to (quarantined ones included). */
export async function referencedHashes(db: Knex, hashes: string[]): Promise<Set<string>> {
  if (hashes.length === 0) return new Set();
  const rows = await db.raw(
    `SELECT sha256 FROM media WHERE sha256 = ANY(?::text[])
     UNION SELECT sha256 FROM media_thumbnails WHERE sha256 = ANY(?::text[])`,
    [hashes, hashes],
  );
  return new Set((rows.rows as Array<{ sha256: string }>).map((r) => r.sha256));
}
