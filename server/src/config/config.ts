import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** A configuration problem: the server refuses to start and prints this one line. */
export class ConfigError extends Error {}

const booleanFlag = (name: string) =>
  z
    .string()
    .transform((v, ctx) => {
      const s = v.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
      ctx.addIssue({ code: 'custom', message: `${name} must be true or false, got "${v}"` });
      return z.NEVER;
    });

const environmentSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8008),
  SERVER_NAME: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/, 'must be a hostname, optionally with :port')
    .default('localhost'),
  PUBLIC_BASEURL: z.url({ protocol: /^https?$/ }).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  ENABLE_REGISTRATION: booleanFlag('ENABLE_REGISTRATION').default(false),
  REGISTRATION_SHARED_SECRET: z.string().min(1).optional(),
  RATE_LIMITS: z.enum(['on', 'off']).default('on'),
  TOCSIN_CONFIG: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

// The YAML file: each section is validated by the domain that owns it when it exists;
// the keys of DESIGN.md's operator contract are accepted as they are.
const fileSchema = z
  .object({
    channels: z.record(z.string(), z.unknown()).optional(),
    directory: z.record(z.string(), z.unknown()).optional(),
    alerts: z.record(z.string(), z.unknown()).optional(),
    app_service_config_files: z.array(z.string()).optional(),
    outbound_allow_ranges: z.array(z.string()).optional(),
    limits: z
      .object({
        max_body_bytes: z.number().int().positive().optional(),
      })
      .optional(),
    media: z
      .object({
        max_upload_bytes: z.number().int().positive().optional(),
        url_previews: z.boolean().optional(),
        legacy_unauthenticated_downloads: z.boolean().optional(),
        gc_interval_s: z.number().positive().optional(),
        blob_grace_s: z.number().nonnegative().optional(),
      })
      .strict()
      .optional(),
    presence: z
      .object({
        unavailable_after_s: z.number().positive().optional(),
        offline_after_s: z.number().positive().optional(),
      })
      .strict()
      .optional(),
    voip: z
      .object({
        turn_uris: z.array(z.string().regex(/^turns?:/, 'must be turn: or turns: URIs')).optional(),
        turn_shared_secret: z.string().min(1).optional(),
        turn_user_lifetime_s: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .loose();

export interface Config {
  port: number;
  serverName: string;
  publicBaseUrl: string;
  dataDir: string;
  databaseUrl: string | undefined;
  enableRegistration: boolean;
  registrationSharedSecret: string | undefined;
  rateLimits: boolean;
  logLevel: string;
  file: z.infer<typeof fileSchema>;
}

/**
 * Secrets may be given inline or as `<key>_file: /path`; the file wins. The value is read
 * here once so that nothing else has to know about the two forms.
 */
function resolveSecretFiles(node: unknown, where: string): unknown {
  if (Array.isArray(node)) return node.map((v, i) => resolveSecretFiles(v, `${where}[${i}]`));
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.endsWith('_file') && typeof value === 'string') {
      const target = key.slice(0, -'_file'.length);
      try {
        out[target] = readFileSync(value, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(`${where}.${key}: cannot read ${value} (${(err as NodeJS.ErrnoException).code ?? err})`);
      }
    } else {
      out[key] = resolveSecretFiles(value, `${where}.${key}`);
    }
  }
  return out;
}

function loadFile(file: string | undefined): z.infer<typeof fileSchema> {
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`TOCSIN_CONFIG: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`TOCSIN_CONFIG: ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = fileSchema.safeParse(resolveSecretFiles(raw, 'config'));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`TOCSIN_CONFIG: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Reads and validates the whole configuration; throws ConfigError naming the bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const relevant: Record<string, string> = {};
  for (const key of Object.keys(environmentSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') relevant[key] = value;
  }
  const parsed = environmentSchema.safeParse(relevant);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    throw new ConfigError(`${name}: ${issue.message} (got "${relevant[name] ?? ''}")`);
  }
  const e = parsed.data;
  const publicBaseUrl = (e.PUBLIC_BASEURL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  return {
    port: e.PORT,
    serverName: e.SERVER_NAME,
    publicBaseUrl,
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    enableRegistration: e.ENABLE_REGISTRATION,
    registrationSharedSecret: e.REGISTRATION_SHARED_SECRET,
    rateLimits: e.RATE_LIMITS === 'on',
    logLevel: e.LOG_LEVEL,
    file: loadFile(e.TOCSIN_CONFIG),
  };
}
