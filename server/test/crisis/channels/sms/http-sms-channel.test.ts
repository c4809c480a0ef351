import { afterEach, describe, expect, it } from 'vitest';
import { PermanentChannelError, TransientChannelError } from '../../../../src/crisis/channels/channel.ts';
import { HttpSmsChannel } from '../../../../src/crisis/channels/sms/http-sms-channel.ts';
import { handleInboundSms, parseInboundSms } from '../../../../src/crisis/channels/sms/inbound-sms.ts';
import { composeSms } from '../../../../src/crisis/channels/sms/sms-text.ts';
import { makeDelivery, RecordingEvents } from '../../../support/channel-fixtures.ts';
import { TestSmsGateway } from '../../../support/sms-gateway.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(token?: string) {
  const gateway = await TestSmsGateway.start();
  cleanups.push(() => gateway.close());
  const channel = new HttpSmsChannel({ url: gateway.url, token: token ?? gateway.token, source: 'TOCSIN', timeoutMs: 3000 });
  cleanups.push(() => channel.close());
  return { gateway, channel };
}

describe('HttpSmsChannel', () => {
  it('posts the SMS as JSON with the bearer token and takes the gateway id', async () => {
    const { gateway, channel } = await setup();
    const delivery = makeDelivery();
    const result = await channel.send(delivery);
    expect(result).toEqual({ state: 'sent', externalId: 'gw-1' });
    const [req] = gateway.requests;
    expect(req!.headers.authorization).toBe('Bearer gateway-token');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.body).toEqual({ to: '+33612345678', from: 'TOCSIN', text: composeSms(delivery), reference: delivery.deliveryId });
  });

  it('accepts a 2xx without an id', async () => {
    const { gateway, channel } = await setup();
    gateway.answerNext(202, { body: 'queued' });
    expect(await channel.send(makeDelivery())).toEqual({ state: 'sent' });
  });

  it('honours Retry-After on 429 and treats 5xx as transient', async () => {
    const { gateway, channel } = await setup();
    gateway.answerNext(429, { headers: { 'retry-after': '7' } });
    const throttled = await channel.send(makeDelivery()).catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(TransientChannelError);
    expect((throttled as TransientChannelError).retryAfterMs).toBe(7000);

    gateway.answerNext(503, { headers: { 'retry-after': new Date(Date.now() + 60_000).toUTCString() } });
    const unavailable = await channel.send(makeDelivery()).catch((e: unknown) => e);
    expect(unavailable).toBeInstanceOf(TransientChannelError);
    expect((unavailable as TransientChannelError).retryAfterMs).toBeGreaterThan(50_000);

    gateway.answerNext(500);
    const failed = await channel.send(makeDelivery()).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(TransientChannelError);
    expect((failed as TransientChannelError).retryAfterMs).toBeUndefined();
  });

  it('treats other 4xx as permanent', async () => {
    const { gateway, channel } = await setup();
    gateway.answerNext(400, { body: '{"error":"invalid number"}' });
    const err = await channel.send(makeDelivery()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentChannelError);
    expect((err as Error).message).toContain('invalid number');
  });

  it('refuses recipients without an E.164 phone without calling the gateway', async () => {
    const { gateway, channel } = await setup();
    await expect(channel.send(makeDelivery({ recipient: { phone: undefined } }))).rejects.toBeInstanceOf(PermanentChannelError);
    await expect(channel.send(makeDelivery({ recipient: { phone: '06 12 34 56 78' } }))).rejects.toBeInstanceOf(PermanentChannelError);
    expect(gateway.requests).toHaveLength(0);
  });

  it('is transient when the gateway is down, and unhealthy', async () => {
    const { gateway, channel } = await setup();
    await gateway.close();
    await expect(channel.send(makeDelivery())).rejects.toBeInstanceOf(TransientChannelError);
    expect((await channel.health()).ok).toBe(false);
  });

  it('reports health from the gateway answer, and a refused token as not ok', async () => {
    const { channel } = await setup();
    expect((await channel.health()).ok).toBe(true);
    const { channel: wrong } = await setup('not-the-token');
    const health = await wrong.health();
    expect(health).toMatchObject({ ok: false });
    expect(health.detail).not.toContain('not-the-token');
  });
});

describe('parseInboundSms', () => {
  it('reads replies, with common aliases', () => {
    expect(parseInboundSms({ type: 'reply', from: '+33612345678', text: ' OK 4821 ' })).toEqual({ kind: 'reply', from: '+33612345678', text: 'OK 4821' });
    expect(parseInboundSms({ msisdn: '33612345678', message: 'ok' })).toEqual({ kind: 'reply', from: '+33612345678', text: 'ok' });
    expect(parseInboundSms({ from: '0612345678', text: 'OK' }, { countryCode: '33' })).toMatchObject({ from: '+33612345678' });
  });

  it('reads receipts, final or not', () => {
    expect(parseInboundSms({ type: 'receipt', id: 'gw-1', status: 'delivered' })).toEqual({ kind: 'receipt', externalId: 'gw-1', ok: true, final: true, status: 'delivered' });
    expect(parseInboundSms({ message_id: 42, status: 'UNDELIVERED' })).toMatchObject({ externalId: '42', ok: false, final: true });
    expect(parseInboundSms({ reference: 'd-1', status: 'queued' })).toMatchObject({ externalId: 'd-1', final: false });
  });

  it.each([
    [null],
    ['OK'],
    [{ type: 'reply', text: 'OK' }],
    [{ type: 'reply', from: 'not a number', text: 'OK' }],
    [{ type: 'receipt', status: 'delivered' }],
    [{ type: 'teapot', from: '+33612345678', text: 'OK' }],
    [{ from: '+33612345678', text: 'x'.repeat(3000) }],
  ])('calls %j invalid', (body) => {
    expect(parseInboundSms(body).kind).toBe('invalid');
  });

  it('reports replies and final receipts to the engine', async () => {
    const events = new RecordingEvents();
    await handleInboundSms({ from: '+33612345678', text: 'OK 4821' }, events);
    await handleInboundSms({ id: 'gw-1', status: 'delivered' }, events);
    await handleInboundSms({ id: 'gw-2', status: 'sent' }, events);
    expect(events.replies).toEqual([{ channel: 'sms', from: '+33612345678', text: 'OK 4821' }]);
    expect(events.deliveredReports).toEqual([{ channel: 'sms', externalId: 'gw-1', ok: true, detail: 'delivered' }]);
  });
});
