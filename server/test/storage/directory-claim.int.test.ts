// The claim that keeps one LDAP sync running at a time across the nodes of one database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimSync, releaseSyncClaim, renewSyncClaim } from '../../src/storage/directory.ts';
import { openTestDb, type TestDb } from '../support/crisis-db.ts';

describe('directory sync claim', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  }, 60_000);
  afterAll(async () => t?.close());

  it('one holder at a time; a lease that ran out can be taken over', async () => {
    const db = t.db;
    expect(await claimSync(db, 'a', 'node1', 1000, 100)).toBe(true);
    expect(await claimSync(db, 'a', 'node2', 1050, 100)).toBe(false);
    // Another kind of sync has its own claim.
    expect(await claimSync(db, 'b', 'node2', 1050, 100)).toBe(true);
    expect(await renewSyncClaim(db, 'a', 'node1', 1090, 100)).toBe(true); // now held until 1190
    expect(await claimSync(db, 'a', 'node2', 1150, 100)).toBe(false);
    // node1 stalled past its lease: node2 takes over, node1 learns it on its next renewal.
    expect(await claimSync(db, 'a', 'node2', 1200, 100)).toBe(true);
    expect(await renewSyncClaim(db, 'a', 'node1', 1210, 100)).toBe(false);
    // node1's release does not free node2's claim.
    await releaseSyncClaim(db, 'a', 'node1');
    expect(await claimSync(db, 'a', 'node3', 1220, 100)).toBe(false);
    await releaseSyncClaim(db, 'a', 'node2');
    expect(await claimSync(db, 'a', 'node3', 1230, 100)).toBe(true);
    await releaseSyncClaim(db, 'a', 'node3');
  });

  it('a scheduled tick is run by one node only, even one after the other', async () => {
    const db = t.db;
    expect(await claimSync(db, 's', 'node1', 5000, 100, 60)).toBe(true);
    expect(await claimSync(db, 's', 'node2', 5001, 100, 60)).toBe(false);
    await releaseSyncClaim(db, 's', 'node1');
    // The same tick again (a node whose cron fired late): already run.
    expect(await claimSync(db, 's', 'node2', 5010, 100, 60)).toBe(false);
    // An older tick (a node with a late clock) neither.
    expect(await claimSync(db, 's', 'node2', 5010, 100, 59)).toBe(false);
    // A run asked for by an administrator has no tick and does not consume one.
    expect(await claimSync(db, 's', 'node2', 5020, 100)).toBe(true);
    await releaseSyncClaim(db, 's', 'node2');
    expect(await claimSync(db, 's', 'node1', 5030, 100, 61)).toBe(true);
  });

  it('claims racing for a free row: exactly one wins', async () => {
    const db = t.db;
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => claimSync(db, 'race', `node${i}`, 9000, 1000)));
    expect(results.filter(Boolean)).toHaveLength(1);
    const slotted = await Promise.all(Array.from({ length: 8 }, (_, i) => claimSync(db, 'race-slot', `node${i}`, 9000, 1000, 7)));
    expect(slotted.filter(Boolean)).toHaveLength(1);
  });
});
