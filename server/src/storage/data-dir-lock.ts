import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The embedded database has one owner: PGlite is one process's file set. The owner writes its
 * pid into DATA_DIR; another process finding a live pid there refuses to open the database.
 */
export function acquireDataDirLock(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'tocsin.pid');
  let existing: number | undefined;
  try {
    existing = Number(readFileSync(file, 'utf8').trim());
  } catch {
    existing = undefined;
  }
  if (existing && existing !== process.pid && isAlive(existing)) {
    throw new Error(`the embedded database in ${dataDir} is in use by process ${existing} (stop it first, or use DATABASE_URL)`);
  }
  writeFileSync(file, String(process.pid));
  return () => {
    try {
      if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file);
    } catch {
      // already gone
    }
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
