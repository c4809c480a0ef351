// A long text from a phone (MO) reaches us as several deliver_sm, one per segment, marked by
// a user data header (IE 0x00: 8-bit reference, or 0x08: 16-bit) or by the sar_* TLVs. The
// reply code or "OK" may sit in any segment, so the parts are put back together, in order,
// before the text is read. Parts wait in memory for their siblings a limited time: a phone
// sends them within seconds, an SMSC may hold them a little longer.

export interface ConcatPart {
  ref: number;
  total: number;
  seq: number;
}

const IE_CONCAT_8BIT = 0x00;
const IE_CONCAT_16BIT = 0x08;
/** How long the first parts of a message wait for the others. */
const WAIT_MS = 10 * 60_000;
/** Messages being put together at once, at most (a flood of lone parts cannot grow memory). */
const MAX_PENDING = 10_000;

/** The concatenation info of an inbound PDU (its decoded UDH information elements, or TLVs); undefined for a whole message. */
export function concatOf(udh: readonly Buffer[] | undefined, tlv: { sar_msg_ref_num?: unknown; sar_total_segments?: unknown; sar_segment_seqnum?: unknown }): ConcatPart | undefined {
  let part: ConcatPart | undefined;
  for (const ie of udh ?? []) {
    if (ie[0] === IE_CONCAT_8BIT && ie[1] === 3 && ie.length >= 5) part = { ref: ie[2]!, total: ie[3]!, seq: ie[4]! };
    else if (ie[0] === IE_CONCAT_16BIT && ie[1] === 4 && ie.length >= 6) part = { ref: ie.readUInt16BE(2), total: ie[4]!, seq: ie[5]! };
    if (part) break;
  }
  if (!part && typeof tlv.sar_msg_ref_num === 'number') {
    part = { ref: tlv.sar_msg_ref_num, total: Number(tlv.sar_total_segments), seq: Number(tlv.sar_segment_seqnum) };
  }
  // A header that says "1 of 1", or makes no sense, is read as a whole message.
  if (!part || !(part.total > 1) || !(part.seq >= 1) || part.seq > part.total) return undefined;
  return part;
}

interface Pending {
  total: number;
  parts: Map<number, string>;
  since: number;
}

export class MoReassembly {
  readonly #pending = new Map<string, Pending>();

  /**
   * Adds one part; returns the whole text once every part is in. The parts are kept until
   * done() (the text was handled): a part delivered again after a failure finds its siblings.
   */
  add(from: string, part: ConcatPart, text: string, now = Date.now()): string | undefined {
    this.#prune(now);
    const key = keyOf(from, part);
    let pending = this.#pending.get(key);
    if (!pending) {
      if (this.#pending.size >= MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!);
      pending = { total: part.total, parts: new Map(), since: now };
      this.#pending.set(key, pending);
    }
    pending.parts.set(part.seq, text);
    if (pending.parts.size < pending.total) return undefined;
    return Array.from({ length: pending.total }, (_, i) => pending.parts.get(i + 1) ?? '').join('');
  }

  done(from: string, part: ConcatPart): void {
    this.#pending.delete(keyOf(from, part));
  }

  /** Messages still missing parts. */
  get waiting(): number {
    return this.#pending.size;
  }

  #prune(now: number): void {
    for (const [key, p] of this.#pending) {
      // Oldest first (insertion order): stop at the first one still within its wait.
      if (now - p.since <= WAIT_MS) break;
      this.#pending.delete(key);
    }
  }
}

function keyOf(from: string, part: ConcatPart): string {
  return `${from}|${part.ref}|${part.total}`;
}
