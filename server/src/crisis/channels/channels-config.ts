import { z } from 'zod';
import { ConfigError } from '../../config/config.ts';
import { parseSmppUrl } from './sms/smpp-connection.ts';

// The `channels:` section of TOCSIN_CONFIG (DESIGN.md, operator contract), validated here so
// that a mistake stops the server at start with one line naming the key. Messages never echo
// the value: URLs and tokens carry secrets.

const positiveInt = (max: number) => z.number().int().min(1).max(max);
const smsSource = z
  .string()
  .regex(/^([A-Za-z0-9 ._-]{1,11}|\+?\d{3,15})$/, 'must be up to 11 letters or digits, or a phone number');

const emailSchema = z.strictObject({
  smtp_url: z.string().regex(/^smtps?:\/\/\S+$/, 'must be smtp://user:pass@host:port or smtps://user:pass@host:port'),
  from: z
    .string()
    .max(320)
    .regex(/^[^\r\n]*@[^\r\n]*$/, 'must be an address such as "Tocsin <alertes@example.org>"'),
  max_connections: positiveInt(100).optional(),
  /** PEM of a private CA for the SMTP server's certificate (usually given as ca_file). */
  ca: z.string().regex(/-----BEGIN CERTIFICATE-----/, 'must be a PEM certificate').optional(),
});

const smppSchema = z.strictObject({
  url: z.string().refine((url) => {
    try {
      parseSmppUrl(url);
      return true;
    } catch {
      return false;
    }
  }, 'must be smpp://system_id:password@host:port (or ssmpp:// for TLS)'),
  source: smsSource,
  max_in_flight: positiveInt(1000).optional(),
  messages_per_second: z.number().positive().max(10_000).optional(),
  enquire_link_s: z.number().positive().max(3600).optional(),
  concatenation: z.enum(['udh', 'sar']).optional(),
  max_segments: positiveInt(10).optional(),
  country_code: z.string().regex(/^[1-9]\d{0,2}$/, 'must be a calling code such as "33"').optional(),
  system_type: z.string().max(12).optional(),
});

const httpSmsSchema = z.strictObject({
  url: z.string().regex(/^https?:\/\/\S+$/, 'must be an http(s) URL'),
  token: z.string().min(1, 'must not be empty (or give token_file)'),
  source: smsSource.optional(),
  max_segments: positiveInt(10).optional(),
  country_code: z.string().regex(/^[1-9]\d{0,2}$/, 'must be a calling code such as "33"').optional(),
});

const smsSchema = z
  .strictObject({ smpp: smppSchema.optional(), http: httpSmsSchema.optional() })
  .refine((s) => Boolean(s.smpp) !== Boolean(s.http), 'set exactly one of smpp or http');

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
const webpushSchema = z
  .strictObject({
    subject: z.string().regex(/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/, 'must be a mailto: address or an https: URL'),
    /** Shared keys for several nodes; otherwise generated into DATA_DIR. */
    public_key: base64url.optional(),
    private_key: base64url.optional(),
    connections_per_origin: positiveInt(256).optional(),
    /** Threads that encrypt push messages (RFC 8291); 0 keeps it on the main thread. Default: cores - 1, 4 at most. */
    encryption_threads: z.number().int().min(0).max(16).optional(),
  })
  .refine((w) => (w.public_key === undefined) === (w.private_key === undefined), 'set both public_key and private_key, or neither');

// Other channels (matrix) and future keys belong to their owners: passed through untouched.
const channelsSchema = z
  .object({ email: emailSchema.optional(), sms: smsSchema.optional(), webpush: webpushSchema.optional() })
  .loose();

export type ChannelsConfig = z.infer<typeof channelsSchema>;
export type EmailConfig = z.infer<typeof emailSchema>;
export type SmppConfig = z.infer<typeof smppSchema>;
export type HttpSmsConfig = z.infer<typeof httpSmsSchema>;
export type WebPushConfig = z.infer<typeof webpushSchema>;

/** Validates `channels:`; throws ConfigError "channels.sms.smpp.url: must be smpp://...". */
export function validateChannelsConfig(section: unknown): ChannelsConfig {
  const parsed = channelsSchema.safeParse(section ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = ['channels', ...issue.path.map(String)].join('.');
  const message = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
  throw new ConfigError(`${where}: ${message}`);
}
