import { useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { t } from '../i18n.ts';
import { joinRoom, useRooms } from './engine.ts';
import { displayName, roomName, sortedRooms } from './room-state.ts';
import { w } from './words.ts';

function preview(body: unknown): string {
  return typeof body === 'string' ? body.split('\n')[0]!.slice(0, 80) : '';
}

export function RoomList(props: { current?: string; me: string }) {
  const e = useRooms();
  const [error, setError] = useState('');
  const rooms = sortedRooms(e.state);
  const invites = Object.values(e.state.invites);
  return (
    <section class="room-list" aria-labelledby="rooms-title">
      <h1 id="rooms-title">{w.rooms}</h1>
      {!e.online && <p class="banner offline" role="status">{w.offline}</p>}
      {error && <p class="error" role="alert">{error}</p>}
      {invites.length > 0 && (
        <ul class="invites">
          {invites.map((i) => (
            <li key={i.id}>
              <span>
                <strong>{i.name ?? i.id}</strong> <span class="meta">{w.invited}{i.inviter ? ` · ${displayName(undefined, i.inviter)}` : ''}</span>
              </span>
              <button type="button" onClick={() => joinRoom(i.id).catch((err: unknown) => setError(err instanceof ApiError ? err.message : t.networkError))}>
                {w.join}
              </button>
            </li>
          ))}
        </ul>
      )}
      {rooms.length === 0 && invites.length === 0 ? (
        <p class="empty">{e.synced ? w.noRooms : t.loading}</p>
      ) : (
        <ul class="rooms">
          {rooms.map((r) => {
            const last = [...r.timeline].reverse().find((ev) => ev.type === 'm.room.message');
            const name = roomName(r, props.me);
            return (
              <li key={r.id} data-room={r.id} class={r.unread > 0 ? 'unread' : undefined}>
                <a href={`#/rooms/${encodeURIComponent(r.id)}`} aria-current={props.current === r.id ? 'page' : undefined}>
                  <span class="room-name">{name}</span>
                  {r.unread > 0 && (
                    // A screen reader hears the words; the eye sees the figure.
                    <span class={r.highlight > 0 ? 'count highlight' : 'count'}>
                      <span aria-hidden="true">
                        {r.highlight > 0 ? '@ ' : ''}
                        <span data-testid="unread">{r.unread}</span>
                      </span>
                      <span class="sr-only">{`${w.unread(r.unread)}${r.highlight > 0 ? `, ${w.mentioned}` : ''}`}</span>
                    </span>
                  )}
                  {last && (
                    <span class="last">
                      {displayName(r, last.sender)}
                      {t.colon}
                      {preview(last.content.body)}
                    </span>
                  )}
                </a>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
