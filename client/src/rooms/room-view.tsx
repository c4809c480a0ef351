import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { t } from '../i18n.ts';
import { discardMessage, loadOlder, markRead, retryMessage, useRooms } from './engine.ts';
import { Composer } from './composer.tsx';
import { Message, isShown } from './message.tsx';
import type { Outgoing } from './outbox.ts';
import { displayName, roomName, seenBy, type MatrixEvent } from './room-state.ts';
import { w } from './words.ts';

/** Same sender within five minutes: one header for the run of messages. */
function grouped(prev: MatrixEvent | undefined, e: MatrixEvent): boolean {
  return !!prev && prev.type === 'm.room.message' && e.type === 'm.room.message' && prev.sender === e.sender && e.origin_server_ts - prev.origin_server_ts < 300_000 && !prev.content['org.tocsin.alert'];
}

function Pending(props: { item: Outgoing; sending: boolean; sentNotEchoed: boolean }) {
  const { item } = props;
  const body = typeof item.content.body === 'string' ? item.content.body : '';
  const status = item.error !== undefined ? `${w.failed} ${item.error}` : props.sending || props.sentNotEchoed ? w.sending : w.pending;
  return (
    <li class={item.error !== undefined ? 'msg mine pending failed' : 'msg mine pending'} data-txn={item.txnId}>
      <p class="text">{item.content.msgtype === 'm.image' ? `${w.image}${t.colon}${body}` : body}</p>
      <p class="status-line">
        {status}
      </p>
      {item.error !== undefined && (
        <div class="row">
          <button type="button" onClick={() => retryMessage(item.txnId)}>{w.retry}</button>
          <button type="button" onClick={() => discardMessage(item.txnId)}>{w.discard}</button>
        </div>
      )}
    </li>
  );
}

export function RoomView(props: { id: string; me: string }) {
  const e = useRooms();
  const room = e.state.rooms[props.id];
  const list = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const keepFromBottom = useRef<number | undefined>(undefined);
  const [older, setOlder] = useState<'idle' | 'loading' | string>('idle');
  const [announce, setAnnounce] = useState('');
  const lastSeen = useRef<string | undefined>(undefined);

  const events = room ? room.timeline.filter((ev) => isShown(ev, room)) : [];
  const last = room?.timeline.at(-1);
  const pending = e.outbox.inRoom(props.id);
  const sentWaiting = [...e.sent.values()].filter((s) => s.item.roomId === props.id);

  // Read on view: a receipt for the newest event while the room is on screen.
  useEffect(() => {
    if (last && document.visibilityState === 'visible') void markRead(props.id, last.event_id);
  }, [props.id, last?.event_id]);
  useEffect(() => {
    const on = () => {
      const l = getLast();
      if (document.visibilityState === 'visible' && l) void markRead(props.id, l);
    };
    const getLast = () => e.state.rooms[props.id]?.timeline.at(-1)?.event_id;
    document.addEventListener('visibilitychange', on);
    return () => document.removeEventListener('visibilitychange', on);
  }, [props.id]);

  // New messages from others are read out (the list itself is not a live region: a long
  // list would be read whole when the room opens).
  useEffect(() => {
    const newest = [...events].reverse().find((ev) => ev.type === 'm.room.message');
    if (!newest) return;
    if (lastSeen.current !== undefined && newest.event_id !== lastSeen.current && newest.sender !== props.me) {
      const body = typeof newest.content.body === 'string' ? newest.content.body : w.image;
      setAnnounce(w.newMessage(displayName(room, newest.sender), body));
    }
    lastSeen.current = newest.event_id;
  }, [events.at(-1)?.event_id]);

  // Scroll: stay at the bottom when there already; keep the place when older events arrive.
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    if (keepFromBottom.current !== undefined) {
      el.scrollTop = el.scrollHeight - keepFromBottom.current;
      keepFromBottom.current = undefined;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  });

  if (!room) {
    return (
      <section class="room" aria-labelledby="room-title">
        <a class="rooms-back" href="#/rooms">← {w.backToRooms}</a>
        <h1 id="room-title">{e.synced ? w.roomNotFound : t.loading}</h1>
      </section>
    );
  }

  const name = roomName(room, props.me);
  const myName = room.members[props.me]?.name;
  const seen = seenBy(room, (ev) => isShown(ev, room), props.me);
  const typing = room.typing.filter((u) => u !== props.me).map((u) => displayName(room, u));

  const older_ = async () => {
    const el = list.current;
    keepFromBottom.current = el ? el.scrollHeight - el.scrollTop : undefined;
    setOlder('loading');
    try {
      await loadOlder(props.id);
      setOlder('idle');
    } catch (err) {
      keepFromBottom.current = undefined;
      setOlder(err instanceof ApiError ? err.message : t.networkError);
    }
    // The button was disabled while loading, which drops keyboard focus: back to it, or to
    // the timeline once the start of the room is reached and the button is gone.
    requestAnimationFrame(() => {
      if (document.activeElement === document.body) (list.current?.querySelector<HTMLElement>('.older button') ?? list.current)?.focus();
    });
  };

  return (
    <section class="room" aria-labelledby="room-title">
      <header class="room-head">
        <a class="rooms-back" href="#/rooms">← {w.backToRooms}</a>
        <h1 id="room-title">{name}</h1>
        {/* Log book (main courante): its own route and chunk (client/src/logbook/). */}
        <a class="logbook-link" href={`#/rooms/${encodeURIComponent(props.id)}/logbook`}>
          {w.logbook}
        </a>
      </header>
      {!e.online && <p class="banner offline" role="status">{w.offline}</p>}
      <div
        class="timeline-scroll"
        ref={list}
        tabIndex={0}
        role="region"
        aria-labelledby="room-title"
        onScroll={(ev) => {
          const el = ev.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        <div class="older">
          {room.atStart ? (
            <p class="meta">{w.start}</p>
          ) : room.prevBatch ? (
            <button type="button" onClick={() => void older_()} disabled={older === 'loading'}>
              {older === 'loading' ? w.loadingOlder : w.older}
            </button>
          ) : null}
          {older !== 'idle' && older !== 'loading' && <p class="error" role="alert">{older}</p>}
        </div>
        <ol class="timeline">
          {events.map((ev, i) => (
            <Message key={ev.event_id} event={ev} room={room} me={props.me} myName={myName} grouped={grouped(events[i - 1], ev)} seen={(seen.get(ev.event_id) ?? []).filter((u) => u !== ev.sender)} />
          ))}
          {sentWaiting.map((s) => (
            <Pending key={s.item.txnId} item={s.item} sending={false} sentNotEchoed />
          ))}
          {pending.map((item) => (
            <Pending key={item.txnId} item={item} sending={e.sending.has(item.txnId)} sentNotEchoed={false} />
          ))}
        </ol>
      </div>
      <p class="typing" aria-live="polite">
        {typing.length > 0 ? w.typing(typing) : ''}
      </p>
      <p class="sr-only" aria-live="polite">
        {announce}
      </p>
      <Composer room={room} me={props.me} />
    </section>
  );
}
