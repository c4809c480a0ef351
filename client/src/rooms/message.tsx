import { useEffect, useState } from 'preact/hooks';
import { isLowBandwidth } from '../bandwidth.ts';
import { formatDateTime, formatWhen, t } from '../i18n.ts';
import { useStore, type Alert } from '../store.ts';
import { AlertCard, SeverityTag } from '../ui/alert-card.tsx';
import { mediaUrl } from './engine.ts';
import { displayName, mentions, type MatrixEvent, type Room } from './room-state.ts';
import { w } from './words.ts';

interface AlertContent {
  alert_id: string;
  severity: Alert['sev'];
  title: string;
  body: string;
  drill?: boolean;
}

/** The alert an event carries (`org.tocsin.alert` in a message of the Tocsin system user). */
export function alertOf(e: MatrixEvent): AlertContent | undefined {
  const a = e.content['org.tocsin.alert'] as AlertContent | undefined;
  return a && typeof a === 'object' && typeof a.alert_id === 'string' && typeof a.title === 'string' ? a : undefined;
}

/**
 * An alert posted in the room: the inbox's own card (with its acknowledgement button) when the
 * user is one of its recipients, else a card with what the post says.
 */
function AlertInRoom(props: { event: MatrixEvent; alert: AlertContent }) {
  const s = useStore();
  const known = s.alerts.get(props.alert.alert_id);
  if (known) return <AlertCard alert={known} />;
  const a = props.alert;
  const sev = (['info', 'warning', 'critical'] as const).includes(a.severity) ? a.severity : 'info';
  return (
    <li class={`card sev-${sev}`} data-alert={a.alert_id}>
      <div class="card-head">
        <SeverityTag alert={{ sev, drill: a.drill ? 1 : undefined }} />
        <time dateTime={new Date(props.event.origin_server_ts).toISOString()}>{formatDateTime(props.event.origin_server_ts)}</time>
      </div>
      <h2>{a.title}</h2>
      <p class="body">{a.body}</p>
      <p class="meta">{w.alertPosted}</p>
    </li>
  );
}

/** In low-bandwidth mode an image waits for a tap (no automatic media on a 2G link). */
function Thumbnail(props: { mxc: string; alt: string; w?: number; h?: number }) {
  const [src, setSrc] = useState<string>();
  const [failed, setFailed] = useState(false);
  const [wanted, setWanted] = useState(() => !isLowBandwidth());
  useEffect(() => {
    if (!wanted) return;
    let live = true;
    mediaUrl(props.mxc, { width: 640, height: 480 }).then(
      (u) => live && setSrc(u),
      () => live && setFailed(true),
    );
    return () => void (live = false);
  }, [props.mxc, wanted]);
  // The reserved box keeps the timeline from jumping when the image arrives.
  const ratio = props.w && props.h ? `${props.w} / ${props.h}` : undefined;
  if (failed) return <span class="meta">{w.image}{t.colon}{props.alt}</span>;
  if (!wanted) {
    return (
      <button type="button" class="link show-image" onClick={() => setWanted(true)}>
        {w.showImage(props.alt)}
      </button>
    );
  }
  return src ? <img class="thumb" src={src} alt={props.alt} width={props.w} height={props.h} /> : <span class="thumb placeholder" style={ratio ? { aspectRatio: ratio } : undefined} role="img" aria-label={props.alt} />;
}

function Content(props: { event: MatrixEvent; room: Room }) {
  const c = props.event.content;
  const body = typeof c.body === 'string' ? c.body : '';
  if (c.msgtype === 'm.image' && typeof c.url === 'string') {
    const info = (c.info ?? {}) as { w?: number; h?: number };
    return <Thumbnail mxc={c.url} alt={body || w.image} w={info.w} h={info.h} />;
  }
  if (c.msgtype === 'm.emote') return <p class="text">* {displayName(props.room, props.event.sender)} {body}</p>;
  return <p class={c.msgtype === 'm.notice' ? 'text notice' : 'text'}>{body}</p>;
}

/** State changes worth a line in the timeline; others are not shown. */
function notice(e: MatrixEvent, room: Room): string | undefined {
  const who = displayName(room, e.sender);
  if (e.type === 'm.room.create') return w.created(who);
  if (e.type === 'm.room.name' && typeof e.content.name === 'string') return w.renamed(who, e.content.name);
  if (e.type === 'm.room.member' && e.state_key) {
    const m = e.content.membership;
    if (m === 'join' && e.sender === e.state_key) return w.joined(who);
    if (m === 'leave' && e.sender === e.state_key) return w.left(who);
    if (m === 'invite') return w.invitedSomeone(who, displayName(room, e.state_key));
  }
  return undefined;
}

export function isShown(e: MatrixEvent, room: Room): boolean {
  return (e.type === 'm.room.message' && !e.unsigned?.redacted_because && Object.keys(e.content).length > 0) || notice(e, room) !== undefined;
}

export function Message(props: { event: MatrixEvent; room: Room; me: string; myName?: string; grouped: boolean; seen: string[] }) {
  const e = props.event;
  const alert = alertOf(e);
  if (alert) return <AlertInRoom event={e} alert={alert} />;
  if (e.type !== 'm.room.message') return <li class="notice-line">{notice(e, props.room)}</li>;
  const mine = e.sender === props.me;
  const mentioned = mentions(e, props.me, props.myName);
  const cls = ['msg', mine ? 'mine' : '', mentioned ? 'mention' : '', props.grouped ? 'grouped' : ''].filter(Boolean).join(' ');
  return (
    <li class={cls} data-event={e.event_id}>
      {!props.grouped && (
        <div class="msg-head">
          <span class="who">{displayName(props.room, e.sender)}</span>
          <time dateTime={new Date(e.origin_server_ts).toISOString()}>{formatWhen(e.origin_server_ts)}</time>
        </div>
      )}
      {mentioned && <span class="sr-only">{w.mentioned}</span>}
      <Content event={e} room={props.room} />
      {props.seen.length > 0 && <p class="seen">{w.seenBy(props.seen.map((u) => displayName(props.room, u)))}</p>}
    </li>
  );
}
