// The order and validity of a space's children: the spec's own ordering example, and the
// links the spec says no longer count (no `via`, an empty or malformed one).
import { describe, expect, it } from 'vitest';
import type { Pdu } from '../../../src/matrix/events/pdu.ts';
import { spaceChildren } from '../../../src/matrix/spaces/children.ts';

function child(stateKey: string, ts: number, content: Record<string, unknown>): Pdu {
  return {
    event_id: `$${stateKey}${ts}`, room_id: '!space:example.org', sender: '@alice:example.org', type: 'm.space.child', state_key: stateKey,
    content: content as Pdu['content'], origin_server_ts: ts, depth: 1, prev_events: [], auth_events: [], hashes: { sha256: '' }, signatures: {},
  };
}

describe('space children', () => {
  it('follows the ordering example of the spec', () => {
    const via = ['example.org'];
    const events = [
      child('!e:example.org', 1640641000000, { via }),
      child('!c:example.org', 1640841000000, { order: 'first', via }),
      child('!d:example.org', 1640741000000, { via }),
      child('!a:example.org', 1640141000000, { order: 'aaaa', via }),
      child('!b:example.org', 1640341000000, { order: ' ', via }),
    ];
    expect(spaceChildren(events).map((c) => c.roomId)).toEqual(['!b:example.org', '!a:example.org', '!c:example.org', '!e:example.org', '!d:example.org']);
  });

  it('breaks ties by timestamp then room ID, and ignores invalid order values', () => {
    const via = ['example.org'];
    const events = [
      child('!z:example.org', 5, { order: 'same', via }),
      child('!y:example.org', 5, { order: 'same', via }),
      child('!x:example.org', 1, { order: 'same', via }),
      child('!w:example.org', 0, { order: 'x'.repeat(51), via }), // too long: treated as no order
      child('!v:example.org', 9, { order: 'caf\u00e9', via }), // outside \x20-\x7E
      child('!u:example.org', 9, { order: 7, via }),
    ];
    expect(spaceChildren(events).map((c) => c.roomId)).toEqual(['!x:example.org', '!y:example.org', '!z:example.org', '!w:example.org', '!u:example.org', '!v:example.org']);
  });

  it('drops links without a usable via, and state keys that are not room IDs', () => {
    const events = [
      child('!ok:example.org', 1, { via: ['example.org'], suggested: true }),
      child('!gone:example.org', 2, {}),
      child('!empty:example.org', 3, { via: [] }),
      child('!bad:example.org', 4, { via: 'example.org' }),
      child('!num:example.org', 5, { via: [42] }),
      child('not-a-room', 6, { via: ['example.org'] }),
    ];
    const children = spaceChildren(events);
    expect(children.map((c) => c.roomId)).toEqual(['!ok:example.org']);
    expect(children[0]!.suggested).toBe(true);
    expect(children[0]!.stripped).toEqual({ type: 'm.space.child', state_key: '!ok:example.org', content: { via: ['example.org'], suggested: true }, sender: '@alice:example.org', origin_server_ts: 1 });
  });
});
