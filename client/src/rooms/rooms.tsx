import { useEffect, useLayoutEffect } from 'preact/hooks';
import type { Session } from '../session.ts';
import { runSync } from './engine.ts';
import { RoomList } from './room-list.tsx';
import { RoomView } from './room-view.tsx';
import { w } from './words.ts';
import './rooms.css';

/**
 * The crisis rooms (a chunk of its own, loaded when opened): the room list, and a room when
 * one is chosen. On a phone one of the two shows; on a wide screen both, side by side.
 */
export function Rooms(props: { id?: string; session: Session }) {
  useEffect(() => {
    const abort = new AbortController();
    void runSync(abort.signal);
    return () => abort.abort();
  }, [props.session.token]);

  // The room fills the screen under the app's header (whose height depends on the width).
  useLayoutEffect(() => {
    const fit = () => {
      const top = document.querySelector<HTMLElement>('header.top')?.offsetHeight ?? 0;
      const main = document.getElementById('main');
      const pad = main ? parseFloat(getComputedStyle(main).paddingTop) + parseFloat(getComputedStyle(main).paddingBottom) : 24;
      document.documentElement.style.setProperty('--chrome', `${Math.ceil(top + pad)}px`);
    };
    fit();
    addEventListener('resize', fit);
    return () => removeEventListener('resize', fit);
  }, []);

  return (
    <div class={props.id ? 'rooms-layout with-room' : 'rooms-layout'}>
      <RoomList current={props.id} me={props.session.userId} />
      {props.id ? <RoomView key={props.id} id={props.id} me={props.session.userId} /> : <p class="room-hint">{w.chooseRoom}</p>}
    </div>
  );
}
