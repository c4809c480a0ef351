import { describe, expect, it } from 'vitest';
import { countSegments } from '../../../../src/crisis/channels/sms/gsm.ts';
import { composeSms, plainSmsText } from '../../../../src/crisis/channels/sms/sms-text.ts';
import { makeDelivery } from '../../../support/channel-fixtures.ts';

const shortUrl = 'https://t.example.org/a/Xy12Ab';

describe('composeSms', () => {
  it('puts tag, title, body, link and reply code in one GSM-7 segment', () => {
    const text = composeSms(makeDelivery({ ackUrl: shortUrl, alert: { title: 'Inondation', body: 'Évacuez le site B à pied.' } }));
    expect(text).toBe(`[CRITIQUE] Inondation\nÉvacuez le site B à pied.\n${shortUrl}\nRép. OK 4821`);
    expect(countSegments(text)).toMatchObject({ encoding: 'gsm7', segments: 1 });
  });

  it('keeps the link in a second segment rather than drop it, when two are allowed', () => {
    // "â" is not GSM-7: the whole message goes as UCS-2, 70 characters a segment.
    const delivery = makeDelivery({ ackUrl: shortUrl, alert: { title: 'Inondation', body: 'Évacuez le bâtiment B.' } });
    const two = composeSms(delivery, { maxSegments: 2 });
    expect(two).toBe(`[CRITIQUE] Inondation\nÉvacuez le bâtiment B.\n${shortUrl}\nRép. OK 4821`);
    expect(countSegments(two)).toMatchObject({ encoding: 'ucs2', segments: 2 });
    // Held to one segment, the link goes and the reply code stays.
    const one = composeSms(delivery, { maxSegments: 1 });
    expect(one).toBe('[CRITIQUE] Inondation\nÉvacuez le bâtiment B.\nRép. OK 4821');
  });

  it('writes English for English speakers and marks drills', () => {
    const text = composeSms(makeDelivery({ ackUrl: shortUrl, alert: { title: 'Flood', body: 'Leave now.', drill: true, severity: 'warning' }, recipient: { language: 'en' } }));
    expect(text).toBe(`[DRILL] [WARNING] Flood\nLeave now.\n${shortUrl}\nReply OK 4821`);
  });

  it('cuts a long body with an ellipsis to stay in one segment, keeping link and code', () => {
    const body = 'Evacuez immediatement le batiment B par la sortie est et rejoignez le point de rassemblement sur le parking visiteurs. Attendez les consignes des serre-files.';
    const text = composeSms(makeDelivery({ ackUrl: shortUrl, alert: { title: 'Incendie', body } }));
    expect(countSegments(text)).toMatchObject({ encoding: 'gsm7', segments: 1 });
    expect(text).toContain('...\n');
    expect(text).toContain(shortUrl);
    expect(text.endsWith('Rép. OK 4821')).toBe(true);
    expect(countSegments(text).units).toBeGreaterThan(150); // the cut uses the room there is
  });

  it('uses a one-character ellipsis when the message is UCS-2 anyway', () => {
    const body = 'Cœur de réseau coupé : les téléphones fixes ne fonctionnent plus dans les bâtiments A, B et C. Utilisez les portables.';
    const text = composeSms(makeDelivery({ ackUrl: shortUrl, alert: { title: 'Panne', body } }));
    expect(countSegments(text)).toMatchObject({ encoding: 'ucs2', segments: 1 });
    expect(text).toContain('…\n');
  });

  it('turns typographic punctuation into plain GSM-7 characters', () => {
    expect(plainSmsText('L’accès « nord » — fermé…')).toBe('L\'accès " nord " - fermé...');
    const text = composeSms(makeDelivery({ ackUrl: shortUrl, alert: { title: 'Accès', body: 'L’accès nord est fermé.' } }));
    expect(countSegments(text).encoding).toBe('gsm7');
  });

  it('drops the reply code before the link, and the link last, when even a short body does not fit', () => {
    const longUrl = `https://tocsin.example.org/_tocsin/v1/ack/${'x'.repeat(40)}`;
    const text = composeSms(makeDelivery({ ackUrl: longUrl, alert: { title: 'Fuite de gaz au sous-sol', body: 'Sortez sans utiliser les interrupteurs ni les ascenseurs.' } }));
    expect(countSegments(text).segments).toBe(1);
    expect(text).toContain(longUrl);
    expect(text).not.toContain('OK 4821');

    const hugeUrl = `https://tocsin.example.org/_tocsin/v1/ack/${'x'.repeat(140)}`;
    const text2 = composeSms(makeDelivery({ ackUrl: hugeUrl, alert: { title: 'Fuite de gaz', body: 'Sortez sans utiliser les interrupteurs ni les ascenseurs.' } }));
    expect(countSegments(text2).segments).toBe(1);
    expect(text2).not.toContain(hugeUrl);
    expect(text2).toContain('OK 4821');
  });

  it('uses more segments when allowed instead of cutting', () => {
    const body = 'Evacuez immediatement le batiment B par la sortie est et rejoignez le point de rassemblement sur le parking visiteurs. Attendez les consignes des serre-files.';
    const text = composeSms(makeDelivery({ ackUrl: shortUrl, alert: { title: 'Incendie', body } }), { maxSegments: 2 });
    expect(text).toContain(body);
    expect(countSegments(text).segments).toBe(2);
  });

  it('never splits an emoji when cutting', () => {
    const body = '🚨'.repeat(60);
    const text = composeSms(makeDelivery({ ackUrl: shortUrl, alert: { title: 'Alerte', body } }));
    expect(countSegments(text).segments).toBe(1);
    expect(text).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });

  it('cuts a title too long to fit with anything else', () => {
    const text = composeSms(makeDelivery({ alert: { title: 'T'.repeat(300) } }));
    expect(countSegments(text).segments).toBe(1);
    expect(text.startsWith('[CRITIQUE] TTT')).toBe(true);
  });
});
