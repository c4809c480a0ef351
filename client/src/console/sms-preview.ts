import { composeSms, plainSmsText } from '../../../server/src/crisis/channels/sms/sms-text.ts';
import { countSegments, type SmsEncoding } from '../../../server/src/crisis/channels/sms/gsm.ts';
import { lang } from '../i18n.ts';

// The SMS a recipient would get, built by the server's own composer (shared source), with a
// link and reply code of the real lengths: what the counter shows is what the SMSC receives.

export interface SmsPreview {
  text: string;
  segments: number;
  encoding: SmsEncoding;
  units: number;
  /** The body had to be cut to fit one SMS. */
  cut: boolean;
}

export function previewSms(input: { severity: 'info' | 'warning' | 'critical'; title: string; body: string; drill: boolean }, origin: string): SmsPreview {
  const text = composeSms({
    deliveryId: 'preview',
    alert: { alertId: 'preview', severity: input.severity, title: input.title, body: input.body, drill: input.drill, createdAt: 0 },
    recipient: { userId: '@preview:preview', displayName: '', language: lang },
    ackUrl: `${origin}/ack/1a2b.AbCdEfGhIjKlMnOp`,
    ackToken: '1a2b.AbCdEfGhIjKlMnOp',
    replyCode: '4821',
  });
  const { segments, encoding, units } = countSegments(text);
  return { text, segments, encoding, units, cut: !text.includes(plainSmsText(input.body)) };
}
