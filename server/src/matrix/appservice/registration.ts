import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../../config/config.ts';

/**
 * Application service registration files, in Synapse's format (the one bridges generate):
 * id, url, as_token, hs_token, sender_localpart, namespaces of users, aliases and rooms with
 * `exclusive` and `regex`, rate_limited, protocols, and receive_ephemeral.
 */

const namespaceSchema = z.object({ exclusive: z.boolean().default(false), regex: z.string().min(1).max(1000) });

const registrationSchema = z
  .object({
    id: z.string().min(1).max(255),
    url: z.string().nullable().optional(),
    as_token: z.string().min(1),
    hs_token: z.string().min(1),
    sender_localpart: z.string().min(1).max(255),
    namespaces: z
      .object({
        users: z.array(namespaceSchema).default([]),
        aliases: z.array(namespaceSchema).default([]),
        rooms: z.array(namespaceSchema).default([]),
      })
      .partial()
      .default({}),
    rate_limited: z.boolean().default(true),
    protocols: z.array(z.string()).default([]),
    receive_ephemeral: z.boolean().optional(),
    'de.sorunome.msc2409.push_ephemeral': z.boolean().optional(),
  })
  .loose();

export interface Namespace {
  exclusive: boolean;
  regex: RegExp;
}

export interface Registration {
  id: string;
  /** Where transactions and queries go; null: the service only uses the client API. */
  url: string | null;
  asToken: string;
  hsToken: string;
  senderLocalpart: string;
  users: Namespace[];
  aliases: Namespace[];
  rooms: Namespace[];
  rateLimited: boolean;
  protocols: string[];
  receiveEphemeral: boolean;
}

function compile(where: string, list: Array<{ exclusive: boolean; regex: string }> | undefined): Namespace[] {
  return (list ?? []).map((n) => {
    try {
      // The regex must match the whole ID (Synapse anchors it at the start, bridges write ^...$).
      return { exclusive: n.exclusive, regex: new RegExp(`^(?:${n.regex})$`) };
    } catch (err) {
      throw new ConfigError(`${where}: invalid regex ${JSON.stringify(n.regex)}: ${(err as Error).message}`);
    }
  });
}

export function parseRegistration(text: string, where: string): Registration {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${where} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = registrationSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const r = parsed.data;
  if (r.url) {
    try {
      const u = new URL(r.url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw new ConfigError(`${where}: url must be an http(s) URL or null`);
    }
  }
  return {
    id: r.id,
    url: r.url ? r.url.replace(/\/+$/, '') : null,
    asToken: r.as_token,
    hsToken: r.hs_token,
    senderLocalpart: r.sender_localpart,
    users: compile(where, r.namespaces.users),
    aliases: compile(where, r.namespaces.aliases),
    rooms: compile(where, r.namespaces.rooms),
    rateLimited: r.rate_limited,
    protocols: r.protocols,
    receiveEphemeral: r.receive_ephemeral ?? r['de.sorunome.msc2409.push_ephemeral'] ?? false,
  };
}

/** Reads every file of `app_service_config_files`; ids and as_tokens must be unique. */
export function loadRegistrations(files: readonly string[]): Registration[] {
  const out: Registration[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`app_service_config_files: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    const reg = parseRegistration(text, `app_service_config_files: ${file}`);
    if (out.some((o) => o.id === reg.id)) throw new ConfigError(`app_service_config_files: ${file}: duplicate id ${reg.id}`);
    if (out.some((o) => o.asToken === reg.asToken || o.hsToken === reg.asToken)) throw new ConfigError(`app_service_config_files: ${file}: as_token used twice`);
    if (reg.asToken === reg.hsToken) throw new ConfigError(`app_service_config_files: ${file}: as_token and hs_token must differ`);
    out.push(reg);
  }
  return out;
}

export function inNamespace(list: Namespace[], id: string, exclusiveOnly = false): boolean {
  return list.some((n) => (!exclusiveOnly || n.exclusive) && n.regex.test(id));
}
