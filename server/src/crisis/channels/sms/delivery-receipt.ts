// SMPP delivery receipts (SMPP 3.4 appendix B): a deliver_sm whose esm_class says "MC delivery
// receipt", with a text such as
//   id:0123456789 sub:001 dlvrd:001 submit date:2511250930 done date:2511250931 stat:DELIVRD err:000 text:...
// and, from SMPP 3.4 SMSCs, the receipted_message_id and message_state TLVs, which win.

export interface DeliveryReceipt {
  messageId: string;
  /** DELIVRD, UNDELIV, EXPIRED, ... */
  stat: string;
  /** Whether the message reached the phone. */
  ok: boolean;
  /** Whether this is the last word on the message (an ENROUTE receipt is not). */
  final: boolean;
  err: string | undefined;
}

/** esm_class bits 2-5 give the message type; 0x04 is an MC delivery receipt. */
export function isDeliveryReceipt(esmClass: number): boolean {
  return (esmClass & 0x3c) === 0x04;
}

// message_state TLV values (SMPP 3.4 section 5.2.28) and their receipt text.
const stateNames: Record<number, string> = {
  0: 'SCHEDLD', 1: 'ENROUTE', 2: 'DELIVRD', 3: 'EXPIRED', 4: 'DELETED', 5: 'UNDELIV', 6: 'ACCEPTD', 7: 'UNKNOWN', 8: 'REJECTD', 9: 'SKIPPED',
};
const failed = new Set(['EXPIRED', 'DELETED', 'UNDELIV', 'UNKNOWN', 'REJECTD', 'SKIPPED', 'FAILED']);

export function parseDeliveryReceipt(text: string, tlv: { receiptedMessageId?: unknown; messageState?: unknown } = {}): DeliveryReceipt | undefined {
  const id = typeof tlv.receiptedMessageId === 'string' && tlv.receiptedMessageId ? tlv.receiptedMessageId : /\bid:(\S+)/i.exec(text)?.[1];
  const stateFromTlv = typeof tlv.messageState === 'number' ? stateNames[tlv.messageState] : undefined;
  const stat = (stateFromTlv ?? /\bstat:(\w+)/i.exec(text)?.[1])?.toUpperCase();
  if (!id || !stat) return undefined;
  const ok = stat === 'DELIVRD' || stat === 'DELIVERED';
  return { messageId: id, stat, ok, final: ok || failed.has(stat), err: /\berr:(\w+)/i.exec(text)?.[1] };
}

/** The receipt text an SMSC writes (used by the test SMSC, and handy in logs). */
export function formatDeliveryReceipt(messageId: string, stat: string, err = stat === 'DELIVRD' ? '000' : '001'): string {
  const now = new Date();
  const stamp = [now.getUTCFullYear() % 100, now.getUTCMonth() + 1, now.getUTCDate(), now.getUTCHours(), now.getUTCMinutes()]
    .map((n) => String(n).padStart(2, '0'))
    .join('');
  const delivered = stat === 'DELIVRD' ? '001' : '000';
  return `id:${messageId} sub:001 dlvrd:${delivered} submit date:${stamp} done date:${stamp} stat:${stat} err:${err} text:`;
}
