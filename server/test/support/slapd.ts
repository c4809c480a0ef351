import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A real OpenLDAP slapd (Debian packages slapd and ldap-utils) on a loopback port, with a
 * throwaway slapd.conf and mdb database: no root, nothing outside its temporary directory.
 */
export interface Slapd {
  url: string;
  port: number;
  rootDn: string;
  rootPassword: string;
  suffix: string;
  /** Applies LDIF with ldapmodify (changetype records) or ldapadd (plain entries). */
  ldif(text: string, mode?: 'add' | 'modify'): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const SLAPD = '/usr/sbin/slapd';
const SCHEMAS = ['core', 'cosine', 'inetorgperson', 'nis', 'msuser'];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

async function waitForPort(port: number, up: boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open === up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`slapd port ${port} did not become ${up ? 'open' : 'closed'}`);
}

export async function startSlapd(suffix = 'dc=example,dc=org'): Promise<Slapd> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-slapd-'));
  mkdirSync(path.join(dir, 'db'));
  const rootDn = `cn=admin,${suffix}`;
  const rootPassword = 'slapd-test-secret';
  const conf = [
    ...SCHEMAS.map((s) => `include /etc/ldap/schema/${s}.schema`),
    `pidfile ${dir}/slapd.pid`,
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'sizelimit unlimited',
    'database mdb',
    'maxsize 1073741824',
    'dbnosync', // a throwaway directory: no fsync per write (loading the bench's 100,000 people)
    `suffix "${suffix}"`,
    `rootdn "${rootDn}"`,
    `rootpw ${rootPassword}`,
    `directory ${dir}/db`,
    'index objectClass eq',
    'index uid eq',
    // Users may bind with their own password (directory login); nobody reads passwords.
    'access to attrs=userPassword by self write by anonymous auth by * none',
    'access to * by * read',
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'slapd.conf'), conf);
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(SLAPD, ['-f', path.join(dir, 'slapd.conf'), '-h', `${url}/`, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`slapd exited (${code}): ${stderr.slice(-500)}`))));
    await Promise.race([waitForPort(port, true), exited]);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    await gone;
  };
  await start();
  const slapd: Slapd = {
    url,
    port,
    rootDn,
    rootPassword,
    suffix,
    ldif(text, mode = 'add') {
      const args = ['-x', '-H', url, '-D', rootDn, '-w', rootPassword];
      execFileSync(mode === 'add' ? '/usr/bin/ldapadd' : '/usr/bin/ldapmodify', args, { input: text, stdio: ['pipe', 'ignore', 'pipe'] });
    },
    stop,
    start,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  slapd.ldif(`dn: ${suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: ${suffix.split(',')[0]!.split('=')[1]}\no: Test\n\ndn: ou=people,${suffix}\nobjectClass: organizationalUnit\nou: people\n\ndn: ou=groups,${suffix}\nobjectClass: organizationalUnit\nou: groups\n\ndn: ou=empty,${suffix}\nobjectClass: organizationalUnit\nou: empty\n`);
  return slapd;
}
