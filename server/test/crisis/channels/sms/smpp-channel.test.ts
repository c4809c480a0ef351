import smpp from 'smpp';
import { afterEach, describe, expect, it } from 'vitest';
import { PermanentChannelError, TransientChannelError } from '../../../../src/crisis/channels/channel.ts';
import { SmppChannel, type SmppChannelOptions } from '../../../../src/crisis/channels/sms/smpp-channel.ts';
import { composeSms } from '../../../../src/crisis/channels/sms/sms-text.ts';
import { makeDelivery, RecordingEvents } from '../../../support/channel-fixtures.ts';
import { TestSmsc } from '../../../support/smsc.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(options: Partial<SmppChannelOptions> = {}, url?: (s: TestSmsc) => string) {
  const smsc = await TestSmsc.start();
  cleanups.push(() => smsc.stop());
  const events = new RecordingEvents();
  const channel = new SmppChannel({
    url: url ? url(smsc) : smsc.url(),
    source: 'TOCSIN',
    events,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    bindWaitMs: 3000,
    healthWaitMs: 1000,
    ...options,
  });
  cleanups.push(() => channel.close());
  return { smsc, events, channel };
}

const shortUrl = 'https://t.example.org/a/Xy12Ab';

describe('SmppChannel: submit_sm', () => {
  it('binds as a transceiver and submits a GSM-7 message asking for a receipt', async () => {
    const { smsc, channel } = await setup();
    const delivery = makeDelivery({ ackUrl: shortUrl, alert: { title: 'Incendie', body: 'Évacuez par la sortie Est, à gauche après l\'accueil. Ça presse !' } });
    const result = await channel.send(delivery);
    const [sms] = await smsc.waitForMessages(1);
    const [part] = sms!.parts;

    expect(smsc.binds).toBe(1);
    expect(result).toEqual({ state: 'sent', externalId: part!.messageId });
    expect(part).toMatchObject({ from: 'TOCSIN', to: '33612345678', dataCoding: 0, registeredDelivery: 1, priority: 1, concat: undefined });
    // The SMSC decodes the GSM-7 septets; 0x09 reads back as the standard's Ç.
    expect(sms!.text).toBe(composeSms(delivery).replace(/ç/g, 'Ç'));
    expect(sms!.text).toContain('Évacuez par la sortie Est, à gauche');
  });

  it.each([
    ['é è à ù ç É', 0],
    ['Cœur de réseau', 8],
    ['Fenêtre ouverte', 8],
    ['Alerte 🚨 maintenant', 8],
  ])('sends "%s" with data_coding %i', async (body, dataCoding) => {
    const { smsc, channel } = await setup();
    const delivery = makeDelivery({ ackUrl: shortUrl, alert: { title: 'Test', body } });
    await channel.send(delivery);
    const [sms] = await smsc.waitForMessages(1);
    expect(sms!.dataCoding).toBe(dataCoding);
    const expected = composeSms(delivery);
    expect(sms!.text).toBe(dataCoding === 0 ? expected.replace(/ç/g, 'Ç') : expected);
  });

  it('sends a long text as a concatenated message with a UDH, in order', async () => {
    const { smsc, channel } = await setup({ maxSegments: 4 });
    const body = 'Consignes: ' + Array.from({ length: 40 }, (_, i) => `etape ${i + 1} ok.`).join(' ');
    const delivery = makeDelivery({ ackUrl: shortUrl, alert: { title: 'Plan blanc', body } });
    const result = await channel.send(delivery);
    const [sms] = await smsc.waitForMessages(1);
    const text = composeSms(delivery, { maxSegments: 4 });

    expect(sms!.parts.length).toBeGreaterThan(1);
    expect(sms!.text).toBe(text);
    expect(new Set(sms!.parts.map((p) => p.concat!.ref)).size).toBe(1);
    expect(sms!.parts.map((p) => p.concat!.seq)).toEqual(sms!.parts.map((_, i) => i + 1));
    for (const p of sms!.parts) {
      expect(p.esmClass & 0x40).toBe(0x40);
      expect(p.concat!.total).toBe(sms!.parts.length);
    }
    expect(result.externalId).toBe(sms!.parts[0]!.messageId);
  });

  it('concatenates UCS-2 texts too, and with sar_* TLVs when configured', async () => {
    const { smsc, channel } = await setup({ maxSegments: 3, concatenation: 'sar' });
    const body = 'Cœur de réseau coupé. '.repeat(6);
    const delivery = makeDelivery({ ackUrl: shortUrl, alert: { title: 'Panne', body } });
    await channel.send(delivery);
    const [sms] = await smsc.waitForMessages(1);
    expect(sms!.dataCoding).toBe(8);
    expect(sms!.parts.length).toBeGreaterThan(1);
    expect(sms!.parts.every((p) => (p.esmClass & 0x40) === 0)).toBe(true);
    expect(sms!.text).toBe(composeSms(delivery, { maxSegments: 3 }));
  });

  it('refuses recipients without a valid phone number, permanently', async () => {
    const { smsc, channel } = await setup();
    await expect(channel.send(makeDelivery({ recipient: { phone: undefined } }))).rejects.toBeInstanceOf(PermanentChannelError);
    await expect(channel.send(makeDelivery({ recipient: { phone: '0612345678' } }))).rejects.toBeInstanceOf(PermanentChannelError);
    expect(smsc.submits).toHaveLength(0);
  });

  it('maps throttling to transient errors with a delay, and a bad number to a permanent one', async () => {
    const { smsc, channel } = await setup();
    smsc.refuseNext(smpp.errors.ESME_RTHROTTLED!);
    const throttled = await channel.send(makeDelivery()).catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(TransientChannelError);
    expect((throttled as TransientChannelError).retryAfterMs).toBe(1000);
    expect((throttled as Error).message).toContain('ESME_RTHROTTLED');

    smsc.refuseNext(smpp.errors.ESME_RMSGQFUL!);
    await expect(channel.send(makeDelivery())).rejects.toBeInstanceOf(TransientChannelError);

    smsc.refuseNext(smpp.errors.ESME_RINVDSTADR!);
    const bad = await channel.send(makeDelivery()).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(PermanentChannelError);
    expect((bad as Error).message).toContain('ESME_RINVDSTADR');

    await channel.send(makeDelivery());
    await smsc.waitForMessages(1);
  });

  it('keeps no more submit_sm in flight than its window allows', async () => {
    const { smsc, channel } = await setup({ maxInFlight: 3, messagesPerSecond: 10_000 });
    smsc.responseDelayMs = 30;
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => channel.send(makeDelivery({ recipient: { phone: `+3361234560${i % 10}` } }))));
    expect(results).toHaveLength(12);
    expect(smsc.submits).toHaveLength(12);
    expect(smsc.maxOutstanding).toBeLessThanOrEqual(3);
    expect(smsc.maxOutstanding).toBeGreaterThan(1);
  });
});

describe('SmppChannel: deliver_sm', () => {
  it('turns delivery receipts into delivered events and answers each deliver_sm', async () => {
    const { smsc, events, channel } = await setup();
    const a = await channel.send(makeDelivery({ deliveryId: '101' }));
    const b = await channel.send(makeDelivery({ deliveryId: '102' }));
    expect(await smsc.sendReceipt(a.externalId!, 'DELIVRD')).toBe(0);
    expect(await smsc.sendReceipt(b.externalId!, 'UNDELIV', { tlv: true })).toBe(0);
    expect(await smsc.sendReceipt(b.externalId!, 'ENROUTE')).toBe(0);
    expect(await smsc.sendReceipt('FFFFFF', 'DELIVRD')).toBe(0);
    await events.waitFor(() => events.deliveredReports.length >= 3);
    expect(events.deliveredReports).toEqual([
      { channel: 'sms', externalId: a.externalId, ok: true, detail: 'DELIVRD', deliveryId: '101' },
      { channel: 'sms', externalId: b.externalId, ok: false, detail: 'UNDELIV', deliveryId: '102' },
      // An id this node never submitted: left to the engine to match (or ignore).
      { channel: 'sms', externalId: 'FFFFFF', ok: true, detail: 'DELIVRD' },
    ]);
  });

  it('reports a receipt for a later part of a long message under the first part\'s id', async () => {
    const { smsc, events, channel } = await setup({ maxSegments: 3 });
    const result = await channel.send(makeDelivery({ alert: { body: 'x'.repeat(300) } }));
    const [sms] = await smsc.waitForMessages(1);
    await smsc.sendReceipt(sms!.parts[1]!.messageId, 'UNDELIV');
    await events.waitFor(() => events.deliveredReports.length === 1);
    expect(events.deliveredReports[0]).toMatchObject({ externalId: result.externalId, ok: false });
  });

  it('turns mobile-originated texts into replies from an E.164 number', async () => {
    const { smsc, events, channel } = await setup();
    await channel.health(); // bound, without sending anything
    expect(await smsc.sendMo('+33612345678', 'OK 1234')).toBe(0);
    expect(await smsc.sendMo('+33698765432', 'ok ça va 👍', { ucs2: true })).toBe(0);
    await events.waitFor(() => events.replies.length === 2);
    expect(events.replies).toEqual([
      { channel: 'sms', from: '+33612345678', text: 'OK 1234' },
      { channel: 'sms', from: '+33698765432', text: 'ok ça va 👍' },
    ]);
  });

  it.each([
    ['udh8' as const, false],
    ['udh16' as const, true],
    ['sar' as const, false],
  ])('puts a long reply in segments (%s) back together before reading it', async (mode, ucs2) => {
    const { smsc, events, channel } = await setup();
    await channel.health();
    // The reply code sits in the last segment, and the segments arrive out of order.
    const segments = ucs2 ? ['Bien reçu, je suis à l\'abri 👍 ', 'avec ma famille. ', 'OK 4821'] : ['Bien recu je suis a l abri ', 'avec ma famille. ', 'OK 4821'];
    const from = '+33612345678';
    expect(await smsc.sendMoSegments(from, segments, { mode, ucs2, ref: mode === 'udh16' ? 0x1234 : 7, order: [2, 0, 1] })).toEqual([0, 0, 0]);
    await events.waitFor(() => events.replies.length === 1);
    // A lone text from someone else between segments is its own message.
    expect(await smsc.sendMo('+33698765432', 'OK')).toBe(0);
    await events.waitFor(() => events.replies.length === 2);
    expect(events.replies).toEqual([
      { channel: 'sms', from, text: segments.join('').trim() },
      { channel: 'sms', from: '+33698765432', text: 'OK' },
    ]);
  });

  it('keeps the segments of a long reply when it cannot be recorded, until the SMSC delivers the last one again', async () => {
    const { smsc, events, channel } = await setup();
    await channel.health();
    const segments = ['OK ', 'je suis en route.'];
    expect(await smsc.sendMoSegments('+33612345678', [segments[0]!, segments[1]!], { order: [0] })).toEqual([0]);
    events.failing = true;
    expect(await smsc.sendMoSegments('+33612345678', segments, { order: [1] })).toEqual([smpp.errors.ESME_RX_T_APPN]);
    events.failing = false;
    expect(await smsc.sendMoSegments('+33612345678', segments, { order: [1] })).toEqual([0]);
    expect(events.replies).toEqual([{ channel: 'sms', from: '+33612345678', text: 'OK je suis en route.' }]);
  });

  it('asks the SMSC to deliver again later when the reply cannot be recorded', async () => {
    const { smsc, events, channel } = await setup();
    expect((await channel.health()).ok).toBe(true);
    events.failing = true;
    expect(await smsc.sendMo('+33612345678', 'OK')).toBe(smpp.errors.ESME_RX_T_APPN);
    events.failing = false;
    expect(await smsc.sendMo('+33612345678', 'OK')).toBe(0);
    expect(events.replies).toHaveLength(1);
  });
});

describe('SmppChannel: the link', () => {
  it('binds again after the SMSC restarts, and sends on the new session', async () => {
    const { smsc, channel } = await setup();
    await channel.send(makeDelivery());
    await smsc.restart();
    await smsc.waitFor(() => smsc.binds === 2);
    const after = await channel.send(makeDelivery());
    expect(after.state).toBe('sent');
    expect(smsc.submits).toHaveLength(2);
    expect((await channel.health()).ok).toBe(true);
  });

  it('fails transiently while the SMSC is down, then recovers', async () => {
    const { smsc, channel } = await setup({ bindWaitMs: 300 });
    expect((await channel.health()).ok).toBe(true);
    const port = smsc.port;
    await smsc.stop();
    await expect(channel.send(makeDelivery())).rejects.toBeInstanceOf(TransientChannelError);
    expect((await channel.health()).ok).toBe(false);
    await smsc.restart();
    expect(smsc.port).toBe(port);
    await smsc.waitFor(() => smsc.boundSessions === 1);
    await channel.send(makeDelivery());
  });

  it('is unhealthy with bad credentials, and says why without the password', async () => {
    const { smsc, channel } = await setup({ bindWaitMs: 300 }, (s) => s.url('tocsin', 'wrong-password'));
    const health = await channel.health();
    expect(health.ok).toBe(false);
    expect(health.detail).toContain('ESME_RINVPASWD');
    expect(health.detail).not.toContain('wrong-password');
    expect(smsc.bindFailures).toBeGreaterThan(0);
    await expect(channel.send(makeDelivery())).rejects.toBeInstanceOf(TransientChannelError);
  });

  it('keeps the link alive with enquire_link and unbinds on close', async () => {
    const { smsc, channel } = await setup({ enquireLinkMs: 30 });
    await channel.health();
    await smsc.waitFor(() => smsc.enquireLinks >= 2);
    await channel.close();
    expect(smsc.unbinds).toBe(1);
  });
});
