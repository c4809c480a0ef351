import { describe, expect, it } from 'vitest';
import { Outbox, newTxnId, type KeyValue, type Outgoing, type SendOutcome } from '../../../client/src/rooms/outbox.ts';
import {
  applySync,
  mentionedUsers,
  mentions,
  prependMessages,
  roomName,
  seenBy,
  snapshot,
  sortedRooms,
  type MatrixEvent,
  type RoomsState,
  type SyncResponse,
} from '../../../client/src/rooms/room-state.ts';

// The crisis rooms' pure logic: folding /sync and /messages answers, names, receipts,
// mentions, and the message outbox. The end-to-end test drives them through a real server.

const ME = '@alice:srv';
let n = 0;
function msg(sender: string, body: string, extra: Partial<MatrixEvent> = {}): MatrixEvent {
  n++;
  return { event_id: `$e${n}`, type: 'm.room.message', sender, origin_server_ts: 1000 + n, content: { msgtype: 'm.text', body }, ...extra };
}
function member(user: string, membership: string, displayname?: string): MatrixEvent {
  n++;
  return { event_id: `$m${n}`, type: 'm.room.member', sender: user, state_key: user, origin_server_ts: 1000 + n, content: { membership, ...(displayname ? { displayname } : {}) } };
}
const empty: RoomsState = { rooms: {}, invites: {} };

function sync(next: string, join: NonNullable<SyncResponse['rooms']>['join'], more: Omit<NonNullable<SyncResponse['rooms']>, 'join'> = {}): SyncResponse {
  return { next_batch: next, rooms: { join, ...more } };
}

describe('folding /sync into the rooms', () => {
  it('builds rooms from a first sync and appends later events without repeating one', () => {
    const a = msg('@bob:srv', 'one');
    const b = msg('@bob:srv', 'two');
    let s = applySync(empty, sync('s1', { '!r': { timeline: { events: [a], prev_batch: 'p1', limited: true }, state: { events: [member('@bob:srv', 'join', 'Bob')] }, unread_notifications: { notification_count: 1, highlight_count: 0 } } }), true);
    expect(s.since).toBe('s1');
    expect(s.rooms['!r']!.timeline.map((e) => e.event_id)).toEqual([a.event_id]);
    expect(s.rooms['!r']!.prevBatch).toBe('p1');
    expect(s.rooms['!r']!.unread).toBe(1);
    s = applySync(s, sync('s2', { '!r': { timeline: { events: [a, b], prev_batch: 'p2' } } }), false);
    expect(s.rooms['!r']!.timeline.map((e) => e.event_id)).toEqual([a.event_id, b.event_id]);
    // A non-limited timeline keeps the older pagination token; the count stays when not sent.
    expect(s.rooms['!r']!.prevBatch).toBe('p1');
    expect(s.rooms['!r']!.unread).toBe(1);
  });

  it('drops what it held at a gap (limited) and pages back from the new token', () => {
    const old = msg('@bob:srv', 'old');
    let s = applySync(empty, sync('s1', { '!r': { timeline: { events: [old], prev_batch: 'p1' } } }), true);
    const fresh = msg('@bob:srv', 'fresh');
    s = applySync(s, sync('s2', { '!r': { timeline: { events: [fresh], prev_batch: 'p9', limited: true } } }), false);
    expect(s.rooms['!r']!.timeline.map((e) => e.event_id)).toEqual([fresh.event_id]);
    expect(s.rooms['!r']!.prevBatch).toBe('p9');
  });

  it('keeps typing users, read receipts (never moved backwards, thread receipts apart), invites and leaves', () => {
    const a = msg('@bob:srv', 'a');
    const b = msg(ME, 'b');
    let s = applySync(empty, sync('s1', { '!r': { timeline: { events: [a, b], prev_batch: 'p' } } }, { invite: { '!i': { invite_state: { events: [{ ...member('@carol:srv', 'invite'), state_key: ME }, { event_id: '$n', type: 'm.room.name', sender: '@carol:srv', state_key: '', origin_server_ts: 0, content: { name: 'PC crise' } }] } } } }), true);
    expect(s.invites['!i']).toEqual({ id: '!i', name: 'PC crise', inviter: '@carol:srv' });
    const receipts = (content: Record<string, unknown>) => sync('s', { '!r': { ephemeral: { events: [{ type: 'm.receipt', content }] } } });
    s = applySync(s, receipts({ [b.event_id]: { 'm.read': { '@bob:srv': { ts: 1 } } } }), false);
    expect(seenBy(s.rooms['!r']!, () => true, ME)).toEqual(new Map([[b.event_id, ['@bob:srv']]]));
    s = applySync(s, receipts({ [a.event_id]: { 'm.read': { '@bob:srv': { ts: 2 } } } }), false);
    expect(s.rooms['!r']!.receipts['@bob:srv']).toBe(b.event_id);
    s = applySync(s, receipts({ [a.event_id]: { 'm.read': { '@carol:srv': { ts: 2, thread_id: '$t' } } } }), false);
    expect(s.rooms['!r']!.receipts['@carol:srv']).toBeUndefined();
    s = applySync(s, sync('s3', { '!r': { ephemeral: { events: [{ type: 'm.typing', content: { user_ids: ['@bob:srv'] } }] } } }), false);
    expect(s.rooms['!r']!.typing).toEqual(['@bob:srv']);
    s = applySync(s, { next_batch: 's4', rooms: { join: { '!i': { timeline: { events: [] } } }, leave: { '!r': {} } } }, false);
    expect(Object.keys(s.rooms)).toEqual(['!i']);
    expect(s.invites).toEqual({});
  });

  it('puts older events from /messages before those held, and knows the start', () => {
    const held = msg('@bob:srv', 'held');
    let s = applySync(empty, sync('s1', { '!r': { timeline: { events: [held], prev_batch: 'p1' } } }), true);
    const o1 = msg('@carol:srv', 'o1');
    const o2 = msg('@carol:srv', 'o2');
    let room = prependMessages(s.rooms['!r']!, { chunk: [o2, o1], end: 'p0', state: [member('@carol:srv', 'join', 'Carol')] });
    expect(room.timeline.map((e) => e.content.body)).toEqual(['o1', 'o2', 'held']);
    expect(room.prevBatch).toBe('p0');
    expect(room.members['@carol:srv']!.name).toBe('Carol');
    room = prependMessages(room, { chunk: [] });
    expect(room.atStart).toBe(true);
    s = { ...s, rooms: { '!r': room } };
    // What the device keeps: the last events, without tokens (a restart syncs afresh).
    const kept = snapshot(s, 2).rooms['!r']!;
    expect(kept.timeline.map((e) => e.content.body)).toEqual(['o2', 'held']);
    expect(kept.prevBatch).toBeUndefined();
    expect(kept.atStart).toBe(false);
  });
});

describe('seen by', () => {
  it('puts a receipt on an event not shown (a reaction) on the last shown event before it, and never shows mine', () => {
    const a = msg('@bob:srv', 'a');
    const reaction: MatrixEvent = { event_id: '$react', type: 'm.reaction', sender: '@bob:srv', origin_server_ts: 5, content: {} };
    const s = applySync(
      empty,
      sync('s', {
        '!r': {
          timeline: { events: [a, reaction] },
          ephemeral: { events: [{ type: 'm.receipt', content: { $react: { 'm.read': { '@carol:srv': { ts: 1 }, '@bob:srv': { ts: 1 }, [ME]: { ts: 1 } } }, $unknown: { 'm.read': { '@dave:srv': { ts: 1 } } } } }] },
        },
      }),
      true,
    );
    const shown = (e: MatrixEvent) => e.type === 'm.room.message';
    expect(seenBy(s.rooms['!r']!, shown, ME)).toEqual(new Map([[a.event_id, ['@bob:srv', '@carol:srv']]]));
  });
});

describe('names, order and mentions', () => {
  it('names a room by its name, alias, then its other members', () => {
    const s = applySync(empty, sync('s', { '!r': { summary: { 'm.heroes': ['@bob:srv'] }, state: { events: [member('@bob:srv', 'join', 'Bob B.')] } } }), true);
    const room = s.rooms['!r']!;
    expect(roomName(room, ME)).toBe('Bob B.');
    expect(roomName({ ...room, alias: '#pc:srv' }, ME)).toBe('#pc:srv');
    expect(roomName({ ...room, alias: '#pc:srv', name: 'PC' }, ME)).toBe('PC');
    expect(roomName({ ...room, heroes: [], members: {} }, ME)).toBe('!r');
  });

  it('lists rooms with unread messages first, then the most recent', () => {
    const s = applySync(
      empty,
      sync('s', {
        '!old': { timeline: { events: [msg('@b:srv', 'x', { origin_server_ts: 10 })] }, unread_notifications: { notification_count: 2 } },
        '!new': { timeline: { events: [msg('@b:srv', 'x', { origin_server_ts: 30 })] } },
        '!mid': { timeline: { events: [msg('@b:srv', 'x', { origin_server_ts: 20 })] } },
      }),
      true,
    );
    expect(sortedRooms(s).map((r) => r.id)).toEqual(['!old', '!new', '!mid']);
  });

  it('a message mentions me by m.mentions when present, else by naming me; never my own', () => {
    expect(mentions(msg('@bob:srv', 'hi', { content: { body: 'hi', 'm.mentions': { user_ids: [ME] } } }), ME)).toBe(true);
    // m.mentions present without me: the text does not count (the sender's client decided).
    expect(mentions(msg('@bob:srv', 'alice?', { content: { body: 'alice?', 'm.mentions': {} } }), ME)).toBe(false);
    expect(mentions(msg('@bob:srv', 'alice, where are you?'), ME)).toBe(true);
    expect(mentions(msg('@bob:srv', 'Ask Alice Martin'), ME, 'Alice Martin')).toBe(true);
    expect(mentions(msg('@bob:srv', 'malice aforethought'), ME)).toBe(false);
    expect(mentions(msg(ME, 'I am alice', { content: { body: 'x', 'm.mentions': { user_ids: [ME] } } }), ME)).toBe(false);
  });

  it('finds the people a message names: full ids, localparts and display names of people in the room', () => {
    const s = applySync(
      empty,
      sync('s', { '!r': { timeline: { events: [msg('@dave:srv', 'here')] }, state: { events: [member('@bob:srv', 'join', 'Bobby'), member('@carol:srv', 'join'), member('@gone:srv', 'leave')] } } }),
      true,
    );
    const room = s.rooms['!r']!;
    expect(mentionedUsers('@bobby @carol and @dave, also @eve:other.org', room, ME)).toEqual(['@bob:srv', '@carol:srv', '@dave:srv', '@eve:other.org']);
    expect(mentionedUsers('@gone @nobody mail@example', room, ME)).toEqual([]);
    expect(mentionedUsers('@alice:srv me', room, ME)).toEqual([]);
  });
});

class Memory implements KeyValue {
  readonly data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
}

function item(roomId: string, body: string, txnId = newTxnId()): Outgoing {
  return { txnId, roomId, type: 'm.room.message', content: { msgtype: 'm.text', body }, created: 0 };
}

describe('the message outbox', () => {
  it('makes transaction ids that do not repeat', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newTxnId(1_700_000_000_000)));
    expect(ids.size).toBe(1000);
    expect(newTxnId(0, () => 0)).toBe('t0.0');
  });

  it('keeps messages across a restart and sends them later with the same transaction ids, in order', async () => {
    const store = new Memory();
    const first = new Outbox(store, ME);
    first.add(item('!r', 'one', 'tx1'));
    first.add(item('!r', 'two', 'tx2'));
    const offline = await first.flush(async () => ({ ok: false, offline: true }));
    expect(offline.offline).toBe(true);

    // The app restarts: another instance reads the device's copy.
    const again = new Outbox(store, ME);
    expect(again.inRoom('!r').map((i) => i.txnId)).toEqual(['tx1', 'tx2']);
    const tried: string[] = [];
    const r = await again.flush(async (i) => {
      tried.push(i.txnId);
      return { ok: true, eventId: `$${i.txnId}` };
    });
    expect(tried).toEqual(['tx1', 'tx2']);
    expect([...r.sent]).toEqual([['tx1', '$tx1'], ['tx2', '$tx2']]);
    expect(new Outbox(store, ME).all()).toEqual([]);
  });

  it('stops at the first network failure, keeps a refusal with its reason, and never sends another account’s messages', async () => {
    const store = new Memory();
    const box = new Outbox(store, ME);
    box.add(item('!a', 'refused', 'tx1'));
    box.add(item('!b', 'offline', 'tx2'));
    box.add(item('!b', 'after', 'tx3'));
    const outcomes: Record<string, SendOutcome> = { tx1: { ok: false, refused: 'not in the room' }, tx2: { ok: false, offline: true } };
    const tried: string[] = [];
    await box.flush(async (i) => {
      tried.push(i.txnId);
      return outcomes[i.txnId]!;
    });
    expect(tried).toEqual(['tx1', 'tx2']);
    expect(box.all().map((i) => [i.txnId, i.error])).toEqual([['tx1', 'not in the room'], ['tx2', undefined], ['tx3', undefined]]);
    // A refused message waits for the user; retry puts it back in the queue.
    tried.length = 0;
    await box.flush(async (i) => (tried.push(i.txnId), { ok: true, eventId: '$x' }));
    expect(tried).toEqual(['tx2', 'tx3']);
    box.retry('tx1');
    expect(box.all()[0]!.error).toBeUndefined();
    expect(new Outbox(store, '@mallory:srv').all()).toEqual([]);
  });

  it('skips a message whose echo arrived while an earlier one was being sent', async () => {
    const box = new Outbox(new Memory(), ME);
    box.add(item('!r', 'one', 'tx1'));
    box.add(item('!r', 'two', 'tx2'));
    const tried: string[] = [];
    await box.flush(async (i) => {
      tried.push(i.txnId);
      if (i.txnId === 'tx1') box.remove('tx2');
      return { ok: true, eventId: '$e' };
    });
    expect(tried).toEqual(['tx1']);
  });
});
