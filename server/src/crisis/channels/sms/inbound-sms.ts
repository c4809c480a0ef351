import { z } from 'zod';
import type { ChannelEvents } from '../channel.ts';
import { isE164, toE164, TON_UNKNOWN } from './phone.ts';

// What an HTTP SMS gateway posts back to Tocsin: replies from phones and delivery receipts.
// The routes layer authenticates the call and hands the JSON body here. Accepted shapes:
//   {"type": "reply",   "from": "+33612345678", "text": "OK 4821"}
//   {"type": "receipt", "id": "<provider id>", "reference": "<delivery id>", "status": "delivered"}
// with the field names providers commonly use as aliases (msisdn, message, message_id, ...);
// without "type", a body with a status is a receipt and one with a text is a reply.

export type InboundSms =
  | { kind: 'reply'; from: string; text: string }
  | { kind: 'receipt'; externalId: string; ok: boolean; final: boolean; status: string }
  | { kind: 'invalid'; error: string };

const text = z.string().max(2000);
const id = z.union([z.string().min(1).max(200), z.number()]).transform(String);
const bodySchema = z.object({
  type: z.string().max(40).optional(),
  from: text.optional(),
  msisdn: text.optional(),
  sender: text.optional(),
  text: text.optional(),
  body: text.optional(),
  message: text.optional(),
  id: id.optional(),
  message_id: id.optional(),
  reference: id.optional(),
  status: z.string().max(40).optional(),
  stat: z.string().max(40).optional(),
});

const delivered = new Set(['delivered', 'delivrd', 'success', 'succeeded']);
const failed = new Set(['failed', 'undelivered', 'undeliv', 'undeliverable', 'rejected', 'rejectd', 'expired', 'deleted', 'error', 'unknown']);

export function parseInboundSms(body: unknown, options: { countryCode?: string } = {}): InboundSms {
  const parsed = bodySchema.safeParse(body);
  if (!parsed.success) return { kind: 'invalid', error: `${parsed.error.issues[0]!.path.join('.') || 'body'}: ${parsed.error.issues[0]!.message}` };
  const b = parsed.data;
  const type = b.type?.toLowerCase();
  const status = (b.status ?? b.stat)?.toLowerCase();
  const isReceipt = type ? ['receipt', 'status', 'dlr', 'delivery'].includes(type) : status !== undefined;

  if (isReceipt) {
    // The provider's id when it gave one at submission, else our reference (the delivery id).
    const externalId = b.id ?? b.message_id ?? b.reference;
    if (!externalId) return { kind: 'invalid', error: 'receipt without id or reference' };
    if (!status) return { kind: 'invalid', error: 'receipt without status' };
    const ok = delivered.has(status);
    return { kind: 'receipt', externalId, ok, final: ok || failed.has(status), status };
  }

  if (type && !['reply', 'mo', 'inbound', 'message'].includes(type)) return { kind: 'invalid', error: `unknown type "${b.type}"` };
  const rawFrom = b.from ?? b.msisdn ?? b.sender;
  const message = b.text ?? b.body ?? b.message;
  if (!rawFrom || message === undefined) return { kind: 'invalid', error: 'reply without from or text' };
  const from = toE164(rawFrom, TON_UNKNOWN, options.countryCode);
  if (!isE164(from)) return { kind: 'invalid', error: 'from is not a phone number' };
  return { kind: 'reply', from, text: message.trim() };
}

/** Parses and reports to the alert engine; returns what was understood (the route answers 400 on invalid). */
export async function handleInboundSms(body: unknown, events: ChannelEvents, options: { countryCode?: string } = {}): Promise<InboundSms> {
  const inbound = parseInboundSms(body, options);
  if (inbound.kind === 'reply') await events.reply('sms', inbound.from, inbound.text);
  else if (inbound.kind === 'receipt' && inbound.final) await events.delivered('sms', inbound.externalId, inbound.ok, inbound.status);
  return inbound;
}
