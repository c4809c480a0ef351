import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The embedded database has one owner: PGlite is one process's file set. The owner writes its
 * pid into DATA_DIR (first line), with what identifies that very process (second line: boot id
 * and start time, on Linux); another process finding a live owner there refuses to open the
 * database. A file left behind by a killed process does not block: its pid is dead, or, when
 * the pid has been reused since (a container restarted), the identity no longer matches.
 */
export function acquireDataDirLock(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'tocsin.pid');
  let existing: { pid: number; identity: string | undefined } | undefined;
  try {
    const [pidLine, identity] = readFileSync(file, 'utf8').split('\n');
    existing = { pid: Number(pidLine?.trim()), identity: identity?.trim() || undefined };
  } catch {
    existing = undefined;
  }
  if (existing && Number.isInteger(existing.pid) && existing.pid > 0 && existing.pid !== process.pid && isOwnerAlive(existing.pid, existing.identity)) {
    throw new Error(`the embedded database in ${dataDir} is in use by process ${existing.pid} (stop it first, or use DATABASE_URL)`);
  }
  writeFileSync(file, `${process.pid}\n${processIdentity(process.pid) ?? ''}\n`);
  return () => {
    try {
      if (Number(readFileSync(file, 'utf8').split('\n')[0]?.trim()) === process.pid) rmSync(file);
    } catch {
      // already gone
    }
  };
}

/** Boot id and start time of a process (Linux); undefined where /proc does not tell. */
export function processIdentity(pid: number): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime); fields counted after the command name, which may hold spaces.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start ? `${boot}/${start}` : undefined;
  } catch {
    return undefined;
  }
}

function isOwnerAlive(pid: number, identity: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // The pid is taken; by the owner only if it is the same process (not a reused pid).
  if (identity === undefined) return true;
  const now = processIdentity(pid);
  return now === undefined || now === identity;
}
