// Phone numbers between Tocsin (E.164, "+33612345678") and SMS transports, which write them
// without the plus and tell international from national numbers by a separate type (TON).

const e164 = /^\+[1-9]\d{6,14}$/;

export function isE164(phone: string): boolean {
  return e164.test(phone);
}

/** SMPP TON values (SMPP 3.4 section 5.2.5). */
export const TON_UNKNOWN = 0;
export const TON_INTERNATIONAL = 1;
export const TON_NATIONAL = 2;
export const TON_ALPHANUMERIC = 5;

/**
 * The E.164 form of a sender address as an SMSC reports it. National numbers ("0612345678")
 * need the country code of the operator's network; without it the address stays as it is,
 * and the reply will match no recipient (which is safe: nothing is acknowledged by mistake).
 */
export function toE164(address: string, ton: number, countryCode?: string): string {
  const trimmed = address.trim();
  if (trimmed.startsWith('+')) return `+${trimmed.slice(1).replace(/\D/g, '')}`;
  const digits = trimmed.replace(/\D/g, '');
  if (!digits || digits.length !== trimmed.replace(/[\s().-]/g, '').length) return trimmed;
  if (digits.startsWith('00')) return `+${digits.slice(2)}`;
  if (ton === TON_INTERNATIONAL) return `+${digits}`;
  if (digits.startsWith('0')) return countryCode ? `+${countryCode}${digits.slice(1)}` : trimmed;
  if (ton === TON_UNKNOWN && digits.length >= 10) return `+${digits}`;
  return countryCode && ton === TON_NATIONAL ? `+${countryCode}${digits}` : trimmed;
}

/** How an SMPP source address is typed: an alphanumeric sender ("TOCSIN") or a number. */
export function sourceAddress(source: string): { addr: string; ton: number; npi: number } {
  if (/^\+?\d+$/.test(source)) {
    const international = source.startsWith('+');
    return { addr: source.replace(/^\+/, ''), ton: international ? TON_INTERNATIONAL : TON_UNKNOWN, npi: 1 };
  }
  return { addr: source, ton: TON_ALPHANUMERIC, npi: 0 };
}
