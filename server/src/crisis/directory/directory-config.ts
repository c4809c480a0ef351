import { z } from 'zod';
import { ConfigError } from '../../config/config.ts';

// The `directory:` section of TOCSIN_CONFIG (DESIGN.md's operator contract). Secrets given as
// `*_file` were already read by the config loader: `bind_password_file` arrives as `bind_password`.
const ldapSchema = z.object({
  url: z.string().regex(/^ldaps?:\/\/[^\s]+$/, 'must be an ldap:// or ldaps:// URL'),
  starttls: z.boolean().default(false),
  ca_file: z.string().optional(),
  bind_dn: z.string().min(1).optional(),
  bind_password: z.string().optional(),
  base_dn: z.string().min(1),
  user_filter: z.string().min(3).default('(objectClass=inetOrgPerson)'),
  attributes: z
    .object({
      login: z.string().min(1).default('uid'),
      display_name: z.string().min(1).default('cn'),
      email: z.string().min(1).default('mail'),
      phone: z.string().min(1).default('mobile'),
      language: z.string().min(1).optional(),
      time_zone: z.string().min(1).optional(),
    })
    .default({ login: 'uid', display_name: 'cn', email: 'mail', phone: 'mobile' }),
  // Without `groups`, the users' memberOf attribute names their groups.
  groups: z
    .object({
      base_dn: z.string().min(1),
      filter: z.string().min(3).default('(objectClass=groupOfNames)'),
      member_attribute: z.string().min(1).default('member'),
      name_attribute: z.string().min(1).default('cn'),
    })
    .optional(),
  member_of_attribute: z.string().min(1).default('memberOf'),
  schedule: z.string().min(1).default('*/15 * * * *'),
  disabled_filter: z.string().min(3).optional(),
  // Country code for national phone numbers ("06...") found in the directory, e.g. "33".
  default_country_code: z.string().regex(/^[1-9]\d{0,2}$/).optional(),
  page_size: z.number().int().min(1).max(10_000).default(500),
  timeout_ms: z.number().int().min(100).max(600_000).default(30_000),
});

export const directoryConfigSchema = z.object({
  ldap: ldapSchema.optional(),
  rooms: z.record(z.string(), z.array(z.string().min(2))).default({}),
  lifecycle: z
    .object({
      deprovision_after_missing_syncs: z.number().int().min(1).max(1000).default(2),
      max_change_share: z.number().min(0).max(1).default(0.1),
      offline_login_days: z.number().min(0).max(365).default(7),
    })
    .default({ deprovision_after_missing_syncs: 2, max_change_share: 0.1, offline_login_days: 7 }),
  scim: z.object({ token: z.string().min(16, 'the SCIM token must be at least 16 characters') }).optional(),
});

export type DirectoryConfig = z.infer<typeof directoryConfigSchema>;
export type LdapConfig = z.infer<typeof ldapSchema>;

export function parseDirectoryConfig(raw: unknown): DirectoryConfig {
  const parsed = directoryConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`directory.${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}
