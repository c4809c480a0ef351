import { afterEach, describe, expect, it } from 'vitest';
import { PermanentChannelError, TransientChannelError } from '../../../src/crisis/channels/channel.ts';
import { EmailChannel } from '../../../src/crisis/channels/email-channel.ts';
import { makeDelivery } from '../../support/channel-fixtures.ts';
import { SmtpReceiver, type ReceivedMail } from '../../support/smtp-receiver.ts';

const from = 'Tocsin <alertes@example.org>';
// smtp-server's built-in certificate is self-signed: trust it for these tests only.
const testTls = { rejectUnauthorized: false };

/** A header as it was written (mailparser folds the priority headers into one). */
function rawHeader(mail: ReceivedMail, name: string): string | undefined {
  const line = mail.parsed.headerLines.find((h) => h.key === name)?.line;
  return line?.slice(line.indexOf(':') + 1).trim();
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(options: Parameters<typeof SmtpReceiver.start>[0] = {}, url?: (r: SmtpReceiver) => string) {
  const receiver = await SmtpReceiver.start(options);
  cleanups.push(() => receiver.close());
  const channel = new EmailChannel({ smtpUrl: url ? url(receiver) : receiver.url(), from, tls: testTls, connectionTimeoutMs: 3000 });
  cleanups.push(() => channel.close());
  return { receiver, channel };
}

describe('EmailChannel', () => {
  it('sends a text and HTML message with the ack link, reply code and priority headers', async () => {
    const { receiver, channel } = await setup();
    const delivery = makeDelivery();
    const result = await channel.send(delivery);
    const [mail] = await receiver.waitForMessages(1);
    const m = mail!.parsed;

    expect(result.state).toBe('sent');
    expect(result.externalId).toMatch(/^<tocsin\.[A-Za-z0-9_-]{24}@example\.org>$/);
    expect(m.messageId).toBe(result.externalId);
    expect(mail!.envelope).toEqual({ from: 'alertes@example.org', to: ['alice@example.org'] });
    expect(mail!.user).toBe('tocsin');
    expect(mail!.secure).toBe(true); // STARTTLS was offered and taken
    expect(m.subject).toBe('[CRITIQUE] Inondation du site Nord');
    expect(m.text).toContain('Évacuez le bâtiment B');
    expect(m.text).toContain(`Accuser réception : ${delivery.ackUrl}`);
    expect(m.text).toContain('OK 4821');
    expect(m.html).toContain(`<a href="${delivery.ackUrl}"`);
    expect(m.html).toContain('OK 4821');
    expect(rawHeader(mail!, 'x-priority')).toBe('1');
    expect(rawHeader(mail!, 'importance')).toBe('high');
    expect(rawHeader(mail!, 'priority')).toBe('urgent');
    expect(m.headers.get('priority')).toBe('high'); // as mailparser reads them
    expect(rawHeader(mail!, 'auto-submitted')).toBe('auto-generated');
    expect(m.to && !Array.isArray(m.to) ? m.to.value[0] : undefined).toMatchObject({ name: 'Alice Martin', address: 'alice@example.org' });
  });

  it('leaves priority headers off non-critical alerts and marks drills, in English when asked', async () => {
    const { receiver, channel } = await setup();
    await channel.send(makeDelivery({ alert: { severity: 'warning', drill: true, title: 'Fire drill' }, recipient: { language: 'en-GB' } }));
    const [mail] = await receiver.waitForMessages(1);
    const m = mail!.parsed;
    expect(m.subject).toBe('[DRILL] [WARNING] Fire drill');
    expect(m.text).toContain('This is a drill.');
    expect(m.text).toContain('Acknowledge: https://');
    expect(m.text).toContain('Or reply by SMS: OK 4821');
    expect(rawHeader(mail!, 'x-priority')).toBeUndefined();
    expect(rawHeader(mail!, 'importance')).toBeUndefined();
    expect(rawHeader(mail!, 'priority')).toBeUndefined();
  });

  it('uses the French drill tag by default', async () => {
    const { receiver, channel } = await setup();
    await channel.send(makeDelivery({ alert: { drill: true }, recipient: { language: undefined } }));
    const [mail] = await receiver.waitForMessages(1);
    expect(mail!.parsed.subject).toBe('[EXERCICE] [CRITIQUE] Inondation du site Nord');
    expect(mail!.parsed.text).toContain('Ceci est un exercice.');
  });

  it('escapes a hostile title and body in the HTML part and keeps header injection out', async () => {
    const { receiver, channel } = await setup();
    const title = '<script>alert(1)</script> "x" & \'y\'\r\nBcc: victim@example.org';
    const body = '<img src=x onerror=alert(1)><a href="javascript:evil()">clic</a>';
    await channel.send(makeDelivery({ alert: { title, body } }));
    const [mail] = await receiver.waitForMessages(1);
    const html = mail!.parsed.html as string;
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<a href="javascript:');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &quot;x&quot; &amp; &#39;y&#39;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    // The CR/LF in the title cannot start a new header.
    expect(mail!.envelope.to).toEqual(['alice@example.org']);
    expect(mail!.parsed.headers.has('bcc')).toBe(false);
    expect(mail!.parsed.subject).toContain('<script>alert(1)</script>');
    // The text part is plain text: it carries the title as written.
    expect(mail!.parsed.text).toContain(body);
  });

  it('does not render a non-http ack link as a link', async () => {
    const { receiver, channel } = await setup();
    await channel.send(makeDelivery({ ackUrl: 'javascript:alert(1)' }));
    const [mail] = await receiver.waitForMessages(1);
    expect(mail!.parsed.html).not.toContain('href=');
    expect(mail!.parsed.text).not.toContain('javascript:');
  });

  it('carries unicode intact (accents, œ, emoji, CJK) in subject and body', async () => {
    const { receiver, channel } = await setup();
    const title = 'Cœur de réseau coupé ⚠️ 停电';
    const body = 'Sœurs et frères : évacuation immédiate 🚒 — « vite » ';
    await channel.send(makeDelivery({ alert: { title, body }, recipient: { displayName: 'Zoë Ørsted' } }));
    const [mail] = await receiver.waitForMessages(1);
    expect(mail!.parsed.subject).toBe(`[CRITIQUE] ${title}`);
    expect(mail!.parsed.text).toContain(body);
    expect(mail!.parsed.html).toContain('évacuation immédiate 🚒 — « vite »');
    expect(mail!.parsed.to && !Array.isArray(mail!.parsed.to) ? mail!.parsed.to.value[0]!.name : '').toBe('Zoë Ørsted');
  });

  it('gives a retry of the same delivery the same Message-ID', async () => {
    const { receiver, channel } = await setup();
    const delivery = makeDelivery();
    const a = await channel.send(delivery);
    const b = await channel.send(delivery);
    await receiver.waitForMessages(2);
    expect(a.externalId).toBe(b.externalId);
    expect(receiver.messages[0]!.parsed.messageId).toBe(receiver.messages[1]!.parsed.messageId);
  });

  it('refuses a recipient without an email address, permanently', async () => {
    const { receiver, channel } = await setup();
    await expect(channel.send(makeDelivery({ recipient: { email: undefined } }))).rejects.toBeInstanceOf(PermanentChannelError);
    await expect(channel.send(makeDelivery({ recipient: { email: 'not an address' } }))).rejects.toBeInstanceOf(PermanentChannelError);
    expect(receiver.messages).toHaveLength(0);
  });

  it('classifies a 4xx reply as transient and a 5xx reply as permanent', async () => {
    const { receiver, channel } = await setup();
    receiver.reject(452, 'Mailbox full, try later');
    const transient = await channel.send(makeDelivery()).catch((e: unknown) => e);
    expect(transient).toBeInstanceOf(TransientChannelError);
    expect((transient as Error).message).toContain('452');

    receiver.reject(550, 'No such user');
    const permanent = await channel.send(makeDelivery()).catch((e: unknown) => e);
    expect(permanent).toBeInstanceOf(PermanentChannelError);
    expect((permanent as Error).message).toContain('550');

    receiver.reject(451, 'Local error in processing', { stage: 'data' });
    await expect(channel.send(makeDelivery())).rejects.toBeInstanceOf(TransientChannelError);
    receiver.reject(554, 'Transaction failed', { stage: 'data' });
    await expect(channel.send(makeDelivery())).rejects.toBeInstanceOf(PermanentChannelError);

    // The pool still works after the refusals.
    await channel.send(makeDelivery());
    await receiver.waitForMessages(1);
  });

  it('reports a bad password through health and fails sends permanently', async () => {
    const { receiver, channel } = await setup({}, (r) => r.url('tocsin', 'wrong'));
    const health = await channel.health();
    expect(health.ok).toBe(false);
    expect(health.detail).toContain('535');
    expect(health.detail).not.toContain('wrong');
    await expect(channel.send(makeDelivery())).rejects.toBeInstanceOf(PermanentChannelError);
    expect(receiver.authFailures).toBeGreaterThan(0);
    expect(receiver.messages).toHaveLength(0);
  });

  it('is healthy against a working server', async () => {
    const { channel } = await setup();
    expect(await channel.health()).toEqual({ ok: true });
  });

  it('speaks implicit TLS for smtps:// URLs', async () => {
    const { receiver, channel } = await setup({ implicitTls: true });
    expect(receiver.url()).toMatch(/^smtps:/);
    await channel.send(makeDelivery());
    const [mail] = await receiver.waitForMessages(1);
    expect(mail!.secure).toBe(true);
  });

  it('authenticates on a clear connection when the server offers no STARTTLS', async () => {
    const { receiver, channel } = await setup({ starttls: false });
    await channel.send(makeDelivery());
    const [mail] = await receiver.waitForMessages(1);
    expect(mail!.secure).toBe(false);
    expect(mail!.user).toBe('tocsin');
  });

  it('treats a server that is down as transient and unhealthy', async () => {
    const receiver = await SmtpReceiver.start();
    const url = receiver.url();
    await receiver.close();
    const channel = new EmailChannel({ smtpUrl: url, from, tls: testTls, connectionTimeoutMs: 2000 });
    cleanups.push(() => channel.close());
    await expect(channel.send(makeDelivery())).rejects.toBeInstanceOf(TransientChannelError);
    expect((await channel.health()).ok).toBe(false);
  });

  it('sends many messages concurrently over the pool', async () => {
    const { receiver, channel } = await setup();
    const results = await Promise.all(Array.from({ length: 20 }, () => channel.send(makeDelivery())));
    await receiver.waitForMessages(20);
    expect(new Set(results.map((r) => r.externalId)).size).toBe(20);
  });
});
