import { readFileSync } from 'node:fs';
import { Client, type Entry } from 'ldapts';
import { TON_UNKNOWN, isE164, toE164 } from '../channels/sms/phone.ts';
import type { LdapConfig } from './directory-config.ts';

/** A person as the directory describes them, mapped to Tocsin's fields. */
export interface DirectoryPerson {
  dn: string;
  login: string;
  displayName: string | null;
  email: string | null;
  phone: string | null;
  language: string | null;
  timeZone: string | null;
  disabled: boolean;
  groups: string[];
}

export interface DirectorySnapshot {
  people: DirectoryPerson[];
  /** Every group found (including empty ones), by Tocsin group id. */
  groups: Map<string, { name: string }>;
  /** Entries that could not be mapped (no login, bad phone...), with the reason. */
  warnings: string[];
}

// AD's userAccountControl: bit 2 (ACCOUNTDISABLE) set means the account is disabled.
const ACCOUNTDISABLE = 2;

/** Lower case, no spaces around separators: how DNs are compared. */
export function normaliseDn(dn: string): string {
  return dn
    .split(',')
    .map((rdn) => rdn.trim().toLowerCase())
    .join(',');
}

function first(value: Entry[string] | undefined): string | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return null;
  const s = (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)).trim();
  return s === '' ? null : s;
}

function all(value: Entry[string] | undefined): string[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
}

/** The value of a DN's first RDN: "cn=Cellule crise,ou=groups,..." -> "Cellule crise". */
function firstRdnValue(dn: string): string {
  const rdn = dn.split(',')[0] ?? '';
  const eq = rdn.indexOf('=');
  return (eq >= 0 ? rdn.slice(eq + 1) : rdn).replace(/\\(.)/g, '$1').trim();
}

/** A Tocsin group id from a directory group name: characters outside the id alphabet become "_". */
export function groupIdOf(name: string): string {
  return name.replace(/[^A-Za-z0-9._=-]/g, '_').slice(0, 128);
}

/** An E.164 number from what the directory holds ("06 12 34 56 78", "+33 6 12..."), or null. */
export function phoneToE164(raw: string | null, countryCode: string | undefined): string | null {
  if (!raw) return null;
  const candidate = toE164(raw, TON_UNKNOWN, countryCode);
  return isE164(candidate) ? candidate : null;
}

/** Reads people and groups from LDAP with paged searches (RFC 2696). Throws on any LDAP error. */
export class LdapSource {
  readonly #cfg: LdapConfig;

  constructor(cfg: LdapConfig) {
    this.#cfg = cfg;
  }

  #client(): Client {
    const cfg = this.#cfg;
    const tlsOptions = cfg.ca_file ? { ca: readFileSync(cfg.ca_file) } : undefined;
    return new Client({ url: cfg.url, timeout: cfg.timeout_ms, connectTimeout: Math.min(cfg.timeout_ms, 10_000), ...(tlsOptions ? { tlsOptions } : {}) });
  }

  async #connect(client: Client, bindDn: string | undefined, password: string | undefined): Promise<void> {
    if (this.#cfg.starttls) await client.startTLS(this.#cfg.ca_file ? { ca: readFileSync(this.#cfg.ca_file) } : {});
    if (bindDn) await client.bind(bindDn, password ?? '');
  }

  async *#search(client: Client, base: string, filter: string, attributes: string[]): AsyncGenerator<Entry> {
    for await (const page of client.searchPaginated(base, { scope: 'sub', filter, attributes, paged: { pageSize: this.#cfg.page_size } })) {
      yield* page.searchEntries;
    }
  }

  async snapshot(onProgress?: (read: number) => void): Promise<DirectorySnapshot> {
    const cfg = this.#cfg;
    const a = cfg.attributes;
    const client = this.#client();
    try {
      await this.#connect(client, cfg.bind_dn, cfg.bind_password);
      const wanted = [a.login, a.display_name, a.email, a.phone, a.language, a.time_zone, 'userAccountControl', cfg.groups ? undefined : cfg.member_of_attribute];
      const attributes = [...new Set(wanted.filter((x): x is string => x !== undefined))];
      const disabledDns = new Set<string>();
      if (cfg.disabled_filter) {
        for await (const e of this.#search(client, cfg.base_dn, `(&${cfg.user_filter}${cfg.disabled_filter})`, ['1.1'])) disabledDns.add(normaliseDn(e.dn));
      }
      const people: DirectoryPerson[] = [];
      const byDn = new Map<string, DirectoryPerson>();
      const byLogin = new Set<string>();
      const warnings: string[] = [];
      const groups = new Map<string, { name: string }>();
      for await (const e of this.#search(client, cfg.base_dn, cfg.user_filter, attributes)) {
        const login = first(e[a.login])?.toLowerCase();
        if (!login) {
          warnings.push(`${e.dn}: no ${a.login}`);
          continue;
        }
        if (byLogin.has(login)) {
          warnings.push(`${e.dn}: login ${login} is used by another entry`);
          continue;
        }
        const rawPhone = first(e[a.phone]);
        const phone = phoneToE164(rawPhone, cfg.default_country_code);
        if (rawPhone && !phone) warnings.push(`${e.dn}: phone "${rawPhone}" is not an international number`);
        const uac = Number(first(e.userAccountControl) ?? '0');
        const person: DirectoryPerson = {
          dn: e.dn,
          login,
          displayName: first(e[a.display_name]),
          email: first(e[a.email])?.toLowerCase() ?? null,
          phone,
          language: a.language ? first(e[a.language]) : null,
          timeZone: a.time_zone ? first(e[a.time_zone]) : null,
          disabled: (Number.isFinite(uac) && (uac & ACCOUNTDISABLE) !== 0) || disabledDns.has(normaliseDn(e.dn)),
          groups: [],
        };
        if (!cfg.groups) {
          for (const groupDn of all(e[cfg.member_of_attribute])) {
            const name = firstRdnValue(groupDn);
            const id = groupIdOf(name);
            groups.set(id, { name });
            person.groups.push(id);
          }
        }
        byLogin.add(login);
        byDn.set(normaliseDn(e.dn), person);
        people.push(person);
        if (people.length % 1000 === 0) onProgress?.(people.length);
      }
      if (cfg.groups) {
        const g = cfg.groups;
        for await (const e of this.#search(client, g.base_dn, g.filter, [g.name_attribute, g.member_attribute])) {
          const name = first(e[g.name_attribute]) ?? firstRdnValue(e.dn);
          const id = groupIdOf(name);
          groups.set(id, { name });
          for (const memberDn of all(e[g.member_attribute])) byDn.get(normaliseDn(memberDn))?.groups.push(id);
        }
      }
      for (const p of people) p.groups = [...new Set(p.groups)].sort();
      onProgress?.(people.length);
      return { people, groups, warnings };
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  /** Binds as the person: true when the password is right, false when it is wrong; throws when LDAP cannot answer. */
  async checkPassword(login: string, password: string): Promise<{ ok: boolean; dn?: string }> {
    if (password === '') return { ok: false }; // an empty password is an anonymous bind: never a login
    const cfg = this.#cfg;
    const client = this.#client();
    try {
      await this.#connect(client, cfg.bind_dn, cfg.bind_password);
      const escaped = login.replace(/[\\*()\u0000]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
      const { searchEntries } = await client.search(cfg.base_dn, { scope: 'sub', filter: `(&${cfg.user_filter}(${cfg.attributes.login}=${escaped}))`, attributes: ['1.1'] });
      if (searchEntries.length !== 1) return { ok: false };
      const dn = searchEntries[0]!.dn;
      const userClient = this.#client();
      try {
        await this.#connect(userClient, undefined, undefined);
        await userClient.bind(dn, password);
        return { ok: true, dn };
      } catch (err) {
        if ((err as { code?: number }).code === 49) return { ok: false }; // invalidCredentials
        throw err;
      } finally {
        await userClient.unbind().catch(() => undefined);
      }
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }
}
