import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';

describe('loadConfig', () => {
  it('applies the operator contract defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8008);
    expect(c.serverName).toBe('localhost');
    expect(c.publicBaseUrl).toBe('http://localhost:8008');
    expect(c.dataDir).toBe(path.resolve('./data'));
    expect(c.databaseUrl).toBeUndefined();
    expect(c.enableRegistration).toBe(false);
    expect(c.rateLimits).toBe(true);
  });

  it('reads every variable', () => {
    const c = loadConfig({
      PORT: '9000',
      SERVER_NAME: 'crise.example.org',
      PUBLIC_BASEURL: 'https://matrix.example.org/',
      DATA_DIR: '/var/lib/tocsin',
      DATABASE_URL: 'postgres://u@db/tocsin',
      ENABLE_REGISTRATION: 'true',
      REGISTRATION_SHARED_SECRET: 's3cret',
      RATE_LIMITS: 'off',
    });
    expect(c).toMatchObject({
      port: 9000,
      serverName: 'crise.example.org',
      publicBaseUrl: 'https://matrix.example.org',
      dataDir: '/var/lib/tocsin',
      databaseUrl: 'postgres://u@db/tocsin',
      enableRegistration: true,
      registrationSharedSecret: 's3cret',
      rateLimits: false,
    });
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['SERVER_NAME', 'bad name'],
    ['PUBLIC_BASEURL', 'ftp://x'],
    ['DATABASE_URL', 'mysql://x'],
    ['ENABLE_REGISTRATION', 'maybe'],
    ['RATE_LIMITS', 'sometimes'],
  ])('rejects %s=%s with one line naming the variable', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.startsWith(`${name}:`)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it('reads the YAML file and resolves *_file secrets', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-config-'));
    writeFileSync(path.join(dir, 'ldap'), 'directory-secret\n');
    const file = path.join(dir, 'tocsin.yaml');
    writeFileSync(
      file,
      `directory:\n  ldap:\n    url: "ldap://127.0.0.1:389"\n    bind_password_file: ${path.join(dir, 'ldap')}\nalerts:\n  escalation:\n    - { after_s: 0, channels: [matrix] }\n`,
    );
    const c = loadConfig({ TOCSIN_CONFIG: file });
    expect((c.file.directory as { ldap: Record<string, unknown> }).ldap.bind_password).toBe('directory-secret');
    expect((c.file.directory as { ldap: Record<string, unknown> }).ldap.bind_password_file).toBeUndefined();
  });

  it('names the file and the problem when the YAML is broken or missing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-config-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'channels: [unclosed\n');
    expect(() => loadConfig({ TOCSIN_CONFIG: file })).toThrow(/^TOCSIN_CONFIG: .*not valid YAML/);
    expect(() => loadConfig({ TOCSIN_CONFIG: path.join(dir, 'absent.yaml') })).toThrow(/^TOCSIN_CONFIG: cannot read/);
    writeFileSync(file, 'directory:\n  ldap:\n    bind_password_file: /nonexistent/secret\n');
    expect(() => loadConfig({ TOCSIN_CONFIG: file })).toThrow(/bind_password_file: cannot read/);
  });
});
