import { describe, expect, it } from 'vitest';
import { concatOf, MoReassembly } from '../../../../src/crisis/channels/sms/mo-reassembly.ts';

describe('long inbound SMS', () => {
  it('reads the concatenation info of a UDH (8- and 16-bit references) or of the sar_* TLVs', () => {
    expect(concatOf([Buffer.from([0x00, 0x03, 0x07, 0x03, 0x02])], {})).toEqual({ ref: 7, total: 3, seq: 2 });
    expect(concatOf([Buffer.from([0x24, 0x01, 0x01]), Buffer.from([0x08, 0x04, 0x12, 0x34, 0x02, 0x01])], {})).toEqual({ ref: 0x1234, total: 2, seq: 1 });
    expect(concatOf(undefined, { sar_msg_ref_num: 9, sar_total_segments: 2, sar_segment_seqnum: 2 })).toEqual({ ref: 9, total: 2, seq: 2 });
    // "1 of 1", a part number beyond the total, or no header: a whole message.
    expect(concatOf([Buffer.from([0x00, 0x03, 0x07, 0x01, 0x01])], {})).toBeUndefined();
    expect(concatOf([Buffer.from([0x00, 0x03, 0x07, 0x02, 0x03])], {})).toBeUndefined();
    expect(concatOf(undefined, {})).toBeUndefined();
  });

  it('joins the parts in order once all are in, per sender and reference, and forgets stale ones', () => {
    const mo = new MoReassembly();
    expect(mo.add('+33611111111', { ref: 1, total: 2, seq: 2 }, 'OK 4821', 0)).toBeUndefined();
    expect(mo.add('+33622222222', { ref: 1, total: 2, seq: 1 }, 'autre ', 0)).toBeUndefined();
    expect(mo.add('+33611111111', { ref: 1, total: 2, seq: 1 }, 'Reçu. ', 1)).toBe('Reçu. OK 4821');
    mo.done('+33611111111', { ref: 1, total: 2, seq: 1 });
    expect(mo.waiting).toBe(1);
    // Ten minutes later the lone part of the other sender is dropped.
    expect(mo.add('+33633333333', { ref: 5, total: 2, seq: 1 }, 'x', 11 * 60_000)).toBeUndefined();
    expect(mo.waiting).toBe(1);
  });
});
