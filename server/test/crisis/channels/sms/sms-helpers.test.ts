import { describe, expect, it } from 'vitest';
import { formatDeliveryReceipt, isDeliveryReceipt, parseDeliveryReceipt } from '../../../../src/crisis/channels/sms/delivery-receipt.ts';
import { isE164, sourceAddress, toE164 } from '../../../../src/crisis/channels/sms/phone.ts';
import { parseSmppUrl } from '../../../../src/crisis/channels/sms/smpp-connection.ts';
import { SubmitWindow } from '../../../../src/crisis/channels/sms/submit-window.ts';

describe('delivery receipts', () => {
  it('reads the receipt text of SMPP 3.4 appendix B', () => {
    const r = parseDeliveryReceipt('id:1A2B3C sub:001 dlvrd:001 submit date:2511250930 done date:2511250931 stat:DELIVRD err:000 text:Bonjour');
    expect(r).toEqual({ messageId: '1A2B3C', stat: 'DELIVRD', ok: true, final: true, err: '000' });
    expect(parseDeliveryReceipt(formatDeliveryReceipt('9', 'UNDELIV'))).toMatchObject({ messageId: '9', ok: false, final: true });
    expect(parseDeliveryReceipt(formatDeliveryReceipt('9', 'ENROUTE'))).toMatchObject({ ok: false, final: false });
  });

  it('prefers the receipted_message_id and message_state TLVs', () => {
    const r = parseDeliveryReceipt('id:WRONG stat:UNDELIV', { receiptedMessageId: 'RIGHT', messageState: 2 });
    expect(r).toMatchObject({ messageId: 'RIGHT', stat: 'DELIVRD', ok: true });
  });

  it('ignores texts that are not receipts', () => {
    expect(parseDeliveryReceipt('OK 4821')).toBeUndefined();
  });

  it('tells receipts from other message types by esm_class', () => {
    expect(isDeliveryReceipt(0x04)).toBe(true);
    expect(isDeliveryReceipt(0x44)).toBe(true); // with a UDH
    expect(isDeliveryReceipt(0x00)).toBe(false);
    expect(isDeliveryReceipt(0x20)).toBe(false); // intermediate notification
  });
});

describe('phone numbers', () => {
  it('checks E.164', () => {
    expect(isE164('+33612345678')).toBe(true);
    expect(isE164('0612345678')).toBe(false);
    expect(isE164('+0612345678')).toBe(false);
    expect(isE164('+33 6 12 34 56 78')).toBe(false);
  });

  it('reads sender addresses as E.164', () => {
    expect(toE164('33612345678', 1)).toBe('+33612345678');
    expect(toE164('+33612345678', 0)).toBe('+33612345678');
    expect(toE164('0033612345678', 0)).toBe('+33612345678');
    expect(toE164('0612345678', 2, '33')).toBe('+33612345678');
    expect(toE164('0612345678', 2)).toBe('0612345678');
    expect(toE164('33612345678', 0)).toBe('+33612345678');
    expect(toE164('ORANGE', 5)).toBe('ORANGE');
  });

  it('types the source as alphanumeric or as a number', () => {
    expect(sourceAddress('TOCSIN')).toEqual({ addr: 'TOCSIN', ton: 5, npi: 0 });
    expect(sourceAddress('+33612345678')).toEqual({ addr: '33612345678', ton: 1, npi: 1 });
  });
});

describe('parseSmppUrl', () => {
  it('reads credentials, host and port', () => {
    expect(parseSmppUrl('smpp://tocsin:p%40ss@smsc.example.org:2776')).toEqual({ host: 'smsc.example.org', port: 2776, tls: false, systemId: 'tocsin', password: 'p@ss' });
    expect(parseSmppUrl('ssmpp://a:b@h')).toMatchObject({ port: 3550, tls: true });
    expect(parseSmppUrl('smpp://a:b@h')).toMatchObject({ port: 2775 });
  });

  it('refuses other schemes and missing system ids', () => {
    expect(() => parseSmppUrl('http://a:b@h')).toThrow(/smpp:\/\//);
    expect(() => parseSmppUrl('smpp://h:2775')).toThrow(/smpp:\/\//);
  });
});

describe('SubmitWindow', () => {
  it('holds the in-flight count at its maximum', async () => {
    const window = new SubmitWindow({ maxInFlight: 2, perSecond: 10_000 });
    const a = await window.acquire();
    const b = await window.acquire();
    let third = false;
    const c = window.acquire().then((release) => {
      third = true;
      return release;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(third).toBe(false);
    expect(window.inFlight).toBe(2);
    a();
    a(); // releasing twice gives back one slot only
    (await c)();
    b();
    expect(window.inFlight).toBe(0);
  });

  it('spaces submits at the configured rate, and pauses after throttling (on a fake clock)', async () => {
    let clock = 1_000_000;
    const sleeps: number[] = [];
    const window = new SubmitWindow({
      maxInFlight: 100,
      perSecond: 50,
      now: () => clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    });
    for (let i = 0; i < 6; i++) (await window.acquire())();
    expect(sleeps).toEqual([20, 20, 20, 20, 20]);
    window.pause(1000);
    (await window.acquire())();
    expect(sleeps.at(-1)).toBe(1000);
  });

  it('fails waiting acquirers when closed', async () => {
    const window = new SubmitWindow({ maxInFlight: 1, perSecond: 1000 });
    await window.acquire();
    const waiting = window.acquire();
    window.close();
    await expect(waiting).rejects.toThrow(/closed/);
  });
});
