import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Slapd } from '../../support/slapd.ts';

export const SUFFIX = 'dc=example,dc=org';

export function person(uid: string, cn: string, extra: Record<string, string> = {}): string {
  const lines = [`dn: uid=${uid},ou=people,${SUFFIX}`, 'objectClass: inetOrgPerson', `uid: ${uid}`, `cn: ${cn}`, `sn: ${cn.split(' ').pop()}`, `userPassword: ${uid}-pw`];
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
  return `${lines.join('\n')}\n`;
}

export function group(cn: string, members: string[]): string {
  return [`dn: cn=${cn},ou=groups,${SUFFIX}`, 'objectClass: groupOfNames', `cn: ${cn}`, ...members.map((m) => `member: uid=${m},ou=people,${SUFFIX}`), ''].join('\n');
}

/** A TOCSIN_CONFIG file pointing at the test slapd; `ldap` overrides keys of directory.ldap. */
export function directoryConfigFile(slapd: Slapd, ldap: Record<string, unknown> = {}, rest: Record<string, unknown> = {}): { env: Record<string, string>; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-dircfg-'));
  writeFileSync(path.join(dir, 'ldap-password'), `${slapd.rootPassword}\n`);
  const config = {
    directory: {
      ldap: {
        url: slapd.url,
        bind_dn: slapd.rootDn,
        bind_password_file: path.join(dir, 'ldap-password'),
        base_dn: `ou=people,${SUFFIX}`,
        user_filter: '(objectClass=inetOrgPerson)',
        attributes: { login: 'uid', display_name: 'cn', email: 'mail', phone: 'mobile', language: 'preferredLanguage' },
        groups: { base_dn: `ou=groups,${SUFFIX}`, filter: '(objectClass=groupOfNames)', member_attribute: 'member' },
        schedule: '0 0 1 1 *', // never during a test: runs are asked for
        disabled_filter: '(employeeType=disabled)',
        default_country_code: '33',
        page_size: 2, // several pages even with a handful of people
        timeout_ms: 5000,
        ...ldap,
      },
      lifecycle: { deprovision_after_missing_syncs: 2, max_change_share: 0.5, offline_login_days: 7 },
      ...rest,
    },
  };
  writeFileSync(path.join(dir, 'tocsin.yaml'), stringify(config));
  return { env: { TOCSIN_CONFIG: path.join(dir, 'tocsin.yaml') }, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
