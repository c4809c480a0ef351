import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { pino } from 'pino';
import webpush from 'web-push';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config.ts';
import { EmailChannel } from '../../../src/crisis/channels/email-channel.ts';
import { buildChannels, validateChannelsConfig, type Channels } from '../../../src/crisis/channels/index.ts';
import { HttpSmsChannel } from '../../../src/crisis/channels/sms/http-sms-channel.ts';
import { SmppChannel } from '../../../src/crisis/channels/sms/smpp-channel.ts';
import { WebPushChannel } from '../../../src/crisis/channels/webpush/webpush-channel.ts';
import { RecordingEvents } from '../../support/channel-fixtures.ts';
import { TestSmsc } from '../../support/smsc.ts';
import { SmtpReceiver } from '../../support/smtp-receiver.ts';

// The web push channel touches the database only when it sends; these tests never send.
const noDb = {} as Knex;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function dataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tocsin-channels-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function build(section: unknown, extra: Partial<Parameters<typeof buildChannels>[1]> = {}): Promise<Channels> {
  const channels = await buildChannels(section, { dataDir: dataDir(), db: noDb, events: new RecordingEvents(), ...extra });
  cleanups.push(() => channels.close());
  return channels;
}

function configError(section: unknown): string {
  try {
    validateChannelsConfig(section);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('validateChannelsConfig', () => {
  it('accepts the operator contract example', () => {
    const config = validateChannelsConfig({
      email: { smtp_url: 'smtp://user:pass@mail.example.org:587', from: 'Tocsin <alertes@example.org>' },
      sms: { smpp: { url: 'smpp://system_id:password@smsc.example.org:2775', source: 'TOCSIN' } },
      webpush: { subject: 'mailto:dsi@example.org' },
      matrix: { anything: 'belongs to the matrix channel' },
    });
    expect(config.sms?.smpp?.source).toBe('TOCSIN');
    expect(validateChannelsConfig(undefined)).toEqual({});
    expect(validateChannelsConfig({ sms: { http: { url: 'https://sms.example.org/send', token: 't' } } }).sms?.http?.token).toBe('t');
  });

  it.each([
    [{ email: { smtp_url: 'http://mail.example.org', from: 'a@b.c' } }, 'channels.email.smtp_url: must be smtp://'],
    [{ email: { smtp_url: 'smtp://u:p@h:25' } }, 'channels.email.from:'],
    [{ email: { smtp_url: 'smtp://u:p@h:25', from: 'nobody' } }, 'channels.email.from: must be an address'],
    [{ email: { smtp_url: 'smtp://u:p@h:25', from: 'a@b.c', smtp_ur: 'x' } }, 'channels.email: unknown key "smtp_ur"'],
    [{ sms: { smpp: { url: 'http://sys:secret-pw@h:2775', source: 'TOCSIN' } } }, 'channels.sms.smpp.url: must be smpp://'],
    [{ sms: { smpp: { url: 'smpp://h:2775', source: 'TOCSIN' } } }, 'channels.sms.smpp.url: must be smpp://'],
    [{ sms: { smpp: { url: 'smpp://s:p@h:2775', source: 'TOCSIN-ALERTES-LONG' } } }, 'channels.sms.smpp.source:'],
    [{ sms: { smpp: { url: 'smpp://s:p@h:2775', source: 'TOCSIN', max_in_flight: 0 } } }, 'channels.sms.smpp.max_in_flight:'],
    [{ sms: {} }, 'channels.sms: set exactly one of smpp or http'],
    [{ sms: { smpp: { url: 'smpp://s:p@h', source: 'T' }, http: { url: 'https://x', token: 't' } } }, 'channels.sms: set exactly one'],
    [{ sms: { http: { url: 'ftp://x', token: 't' } } }, 'channels.sms.http.url: must be an http(s) URL'],
    [{ sms: { http: { url: 'https://x' } } }, 'channels.sms.http.token:'],
    [{ webpush: { subject: 'dsi@example.org' } }, 'channels.webpush.subject: must be a mailto:'],
    [{ webpush: { subject: 'mailto:a@b.c', public_key: 'abc' } }, 'channels.webpush: set both public_key and private_key'],
  ])('refuses %j with one line naming the key', (section, start) => {
    const message = configError(section);
    expect(message.startsWith(start)).toBe(true);
    expect(message).not.toContain('\n');
    expect(message).not.toContain('secret-pw');
  });
});

describe('buildChannels', () => {
  it('always builds web push, generating its VAPID key into DATA_DIR', async () => {
    const dir = dataDir();
    const channels = await build({}, { dataDir: dir });
    expect([...channels.adapters.keys()]).toEqual(['webpush']);
    expect(channels.get('webpush')).toBeInstanceOf(WebPushChannel);
    expect(existsSync(path.join(dir, 'vapid.json'))).toBe(true);
    expect(Buffer.from(channels.vapidPublicKey, 'base64url')).toHaveLength(65);
    expect(await channels.health()).toEqual({ webpush: { ok: true } });
    const again = await build({}, { dataDir: dir });
    expect(again.vapidPublicKey).toBe(channels.vapidPublicKey);
  });

  it('uses VAPID keys from the config when given, and refuses a mismatched pair', async () => {
    const keys = webpush.generateVAPIDKeys();
    const channels = await build({ webpush: { subject: 'mailto:dsi@example.org', public_key: keys.publicKey, private_key: keys.privateKey } });
    expect(channels.vapidPublicKey).toBe(keys.publicKey);
    const other = webpush.generateVAPIDKeys();
    await expect(build({ webpush: { subject: 'mailto:dsi@example.org', public_key: keys.publicKey, private_key: other.privateKey } })).rejects.toThrow(ConfigError);
  });

  it('builds email and a bound SMPP transceiver from their sections, all healthy', async () => {
    const smtp = await SmtpReceiver.start({ starttls: false });
    cleanups.push(() => smtp.close());
    const smsc = await TestSmsc.start();
    cleanups.push(() => smsc.stop());
    const channels = await build({
      email: { smtp_url: smtp.url(), from: 'Tocsin <alertes@example.org>' },
      sms: { smpp: { url: smsc.url(), source: 'TOCSIN', max_in_flight: 4, messages_per_second: 100 } },
    });
    expect(channels.get('email')).toBeInstanceOf(EmailChannel);
    expect(channels.get('sms')).toBeInstanceOf(SmppChannel);
    await smsc.waitFor(() => smsc.boundSessions === 1); // bound without a send
    expect(await channels.health()).toEqual({ webpush: { ok: true }, email: { ok: true }, sms: { ok: true, detail: 'bound' } });
  });

  it('builds the HTTP SMS gateway channel instead of SMPP, with its webhook handler', async () => {
    const events = new RecordingEvents();
    const channels = await build({ sms: { http: { url: 'https://sms.example.org/send', token: 'tok', country_code: '33' } } }, { events });
    expect(channels.get('sms')).toBeInstanceOf(HttpSmsChannel);
    expect(await channels.handleInboundSms({ from: '0612345678', text: 'OK 4821' })).toEqual({ kind: 'reply', from: '+33612345678', text: 'OK 4821' });
    expect(events.replies).toEqual([{ channel: 'sms', from: '+33612345678', text: 'OK 4821' }]);
  });

  it('refuses bad outbound_allow_ranges with a ConfigError', async () => {
    await expect(build({}, { outboundAllowRanges: ['intranet'] })).rejects.toThrow(/^outbound_allow_ranges:/);
  });

  it('never writes passwords or tokens to the log', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, new Writable({ write: (chunk: Buffer, _e, done) => { lines.push(chunk.toString()); done(); } }));
    const smtp = await SmtpReceiver.start({ starttls: false });
    cleanups.push(() => smtp.close());
    const smsc = await TestSmsc.start();
    cleanups.push(() => smsc.stop());
    const channels = await build({
      email: { smtp_url: smtp.url('tocsin', 'smtp-wrong-pass'), from: 'Tocsin <alertes@example.org>' },
      sms: { smpp: { url: smsc.url('tocsin', 'smpp-wrong-pass'), source: 'TOCSIN' } },
    }, { logger });
    const health = await channels.health();
    expect(health.email?.ok).toBe(false);
    expect(health.sms?.ok).toBe(false);
    await channels.get('email')!.send((await import('../../support/channel-fixtures.ts')).makeDelivery()).catch(() => undefined);
    await smsc.waitFor(() => smsc.bindFailures > 0);
    const log = lines.join('');
    expect(log).toContain('SMPP bind refused');
    expect(log).not.toContain('wrong-pass');
    expect(JSON.stringify(health)).not.toContain('wrong-pass');
  });
});
