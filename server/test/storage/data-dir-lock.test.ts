import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireDataDirLock, processIdentity } from '../../src/storage/data-dir-lock.ts';

describe('DATA_DIR lock (one owner of the embedded database)', () => {
  const dirs: string[] = [];
  const children: Array<ReturnType<typeof spawn>> = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const dir = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'tocsin-lock-'));
    dirs.push(d);
    return d;
  };
  const liveProcess = async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    return child.pid!;
  };

  it('writes its pid and identity, and removes the file on release', () => {
    const d = dir();
    const release = acquireDataDirLock(d);
    const [pid, identity] = readFileSync(path.join(d, 'tocsin.pid'), 'utf8').split('\n');
    expect(Number(pid)).toBe(process.pid);
    expect(identity).toBe(processIdentity(process.pid) ?? '');
    release();
    expect(() => readFileSync(path.join(d, 'tocsin.pid'))).toThrow();
  });

  it('refuses a data directory owned by a live process', async () => {
    const d = dir();
    const pid = await liveProcess();
    writeFileSync(path.join(d, 'tocsin.pid'), `${pid}\n${processIdentity(pid) ?? ''}\n`);
    expect(() => acquireDataDirLock(d)).toThrow(/in use by process/);
    // An older file with the pid alone counts too.
    writeFileSync(path.join(d, 'tocsin.pid'), String(pid));
    expect(() => acquireDataDirLock(d)).toThrow(/in use by process/);
  });

  it('takes over a file left by a killed process (dead pid)', async () => {
    const d = dir();
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid!;
    const identity = processIdentity(pid) ?? '';
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    writeFileSync(path.join(d, 'tocsin.pid'), `${pid}\n${identity}\n`);
    const release = acquireDataDirLock(d);
    expect(Number(readFileSync(path.join(d, 'tocsin.pid'), 'utf8').split('\n')[0])).toBe(process.pid);
    release();
  });

  it('takes over a file whose pid now belongs to another process (pid reused)', async () => {
    if (processIdentity(process.pid) === undefined) return; // no /proc: the pid alone decides
    const d = dir();
    const pid = await liveProcess();
    writeFileSync(path.join(d, 'tocsin.pid'), `${pid}\nanother-boot/12345\n`);
    const release = acquireDataDirLock(d);
    release();
  });
});
