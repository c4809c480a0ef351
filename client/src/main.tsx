import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ComponentType } from 'preact';
import { setUnknownTokenHandler } from './api.ts';
import { bandwidthMode, isLowBandwidth, onBandwidthChange, toggleLowBandwidth } from './bandwidth.ts';
import { lang, t } from './i18n.ts';
import { enablePush, pushSupported } from './push.ts';
import { loadSession, wipeLocalData, type Session } from './session.ts';
import { clearStore, followFeed, loadStoredAlerts } from './store.ts';
import { AlertView } from './ui/alert-view.tsx';
import { Inbox } from './ui/inbox.tsx';
import { Login } from './ui/login.tsx';
import './style.css';

document.documentElement.lang = lang;

type Route =
  | { name: 'inbox' }
  | { name: 'alert'; id: string }
  | { name: 'console'; id?: string }
  | { name: 'rooms'; id?: string }
  | { name: 'logbook'; roomId: string };

function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map((p) => decodeURIComponent(p));
  if (parts[0] === 'alert' && parts[1]) return { name: 'alert', id: parts[1] };
  if (parts[0] === 'rooms' && parts[1] && parts[2] === 'logbook') return { name: 'logbook', roomId: parts[1] };
  if (parts[0] === 'console') return { name: 'console', id: parts[1] || undefined };
  if (parts[0] === 'rooms') return { name: 'rooms', id: parts[1] || undefined };
  return { name: 'inbox' };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => {
      setRoute(parseRoute(location.hash));
      // Focus moves to the new page's content, for keyboard and screen-reader users.
      requestAnimationFrame(() => document.getElementById('main')?.focus());
    };
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/**
 * A component of a chunk of its own (the console, the rooms, the log book): fetched only when
 * opened, so none of them weighs on the first screen. A failed fetch is tried again next time.
 */
function lazyChunk<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let module: Promise<ComponentType<P>> | undefined;
  return function Lazy(props: P) {
    const [C, setC] = useState<ComponentType<P> | null>(null);
    const [failed, setFailed] = useState(false);
    useEffect(() => {
      module ??= load();
      module.then((c) => setC(() => c)).catch(() => {
        module = undefined;
        setFailed(true);
      });
    }, []);
    if (failed) return <p class="error" role="alert">{t.networkError}</p>;
    return C ? <C {...props} /> : <p role="status">{t.loading}</p>;
  };
}

const LazyConsole = lazyChunk<{ id?: string; session: Session }>(() => import('./console/console.tsx').then((m) => m.Console));
const LazyRooms = lazyChunk<{ id?: string; session: Session }>(() => import('./rooms/rooms.tsx').then((m) => m.Rooms));
const LazyLogbook = lazyChunk<{ roomId: string; session: Session }>(() => import('./logbook/logbook.tsx').then((m) => m.Logbook));

/** The low-bandwidth toggle: pressed when the mode is on, whether chosen or detected. */
function BandwidthToggle() {
  const [low, setLow] = useState(isLowBandwidth);
  useEffect(() => onBandwidthChange(setLow), []);
  const auto = bandwidthMode() === 'auto';
  return (
    <button type="button" class="link bandwidth" aria-pressed={low} title={auto ? t.lowDataAuto : undefined} onClick={() => toggleLowBandwidth()}>
      {low ? '▼ ' : ''}
      {t.lowData}
      {auto && low ? ` (${t.auto})` : ''}
    </button>
  );
}

/** Outside low-bandwidth mode the worker fetches the lazy chunks ahead, so they open offline. */
function precacheLazyChunks(): void {
  if (isLowBandwidth()) return;
  void navigator.serviceWorker?.ready.then((reg) => reg.active?.postMessage({ type: 'precache-lazy' }));
}

function PushButton() {
  const [status, setStatus] = useState(() => (pushSupported() && Notification.permission === 'granted' ? 'on' : ''));
  if (!pushSupported()) return null;
  if (status === 'on') return <span class="push-on">🔔 {t.notificationsOn}</span>;
  return (
    <>
      <button
        type="button"
        class="link"
        onClick={() =>
          enablePush().then(
            (r) => setStatus(r === 'on' ? 'on' : t.notificationsDenied),
            (err: Error) => setStatus(`${t.notificationsFailed} ${err.message}`),
          )
        }
      >
        {t.enableNotifications}
      </button>
      {status && <span class="error" role="status">{status}</span>}
    </>
  );
}

function App() {
  const [session, setSession] = useState(loadSession);
  const [notice, setNotice] = useState('');
  const route = useRoute();

  useEffect(() => {
    // Lost phone or revoked session: nothing of the user's stays on the device.
    setUnknownTokenHandler(() => {
      void wipeLocalData().then(() => {
        clearStore();
        setNotice(t.sessionEnded);
        setSession(undefined);
      });
    });
  }, []);

  useEffect(() => {
    if (!session) return;
    loadStoredAlerts();
    const abort = new AbortController();
    void followFeed(abort.signal);
    return () => abort.abort();
  }, [session?.token]);

  if (!session) return <Login onSignedIn={(s) => { setNotice(''); setSession(s); }} notice={notice} />;

  const signOut = async () => {
    await fetch('/_matrix/client/v3/logout', { method: 'POST', headers: { authorization: `Bearer ${session.token}` } }).catch(() => undefined);
    await wipeLocalData();
    clearStore();
    setSession(undefined);
  };

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        {t.skip}
      </a>
      <header class="top">
        <a href="#/" class="brand">
          <img src="/icons/icon.svg" alt="" width={28} height={28} />
          {t.appName}
        </a>
        <nav aria-label={t.appName}>
          <a href="#/" aria-current={route.name === 'inbox' ? 'page' : undefined}>{t.inbox}</a>
          <a href="#/rooms" aria-current={route.name === 'rooms' || route.name === 'logbook' ? 'page' : undefined}>{t.rooms}</a>
          <a href="#/console" aria-current={route.name === 'console' ? 'page' : undefined}>{t.console}</a>
        </nav>
        <div class="account">
          <span class="user">{session.userId}</span>
          <BandwidthToggle />
          <PushButton />
          <button type="button" class="link" onClick={() => void signOut()}>{t.signOut}</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {route.name === 'alert' ? (
          <AlertView id={route.id} />
        ) : route.name === 'console' ? (
          <LazyConsole id={route.id} session={session} />
        ) : route.name === 'rooms' ? (
          <LazyRooms id={route.id} session={session} />
        ) : route.name === 'logbook' ? (
          <LazyLogbook roomId={route.roomId} session={session} />
        ) : (
          <Inbox />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);

if ('serviceWorker' in navigator) {
  addEventListener('load', () => {
    void navigator.serviceWorker.register('/sw.js').then(precacheLazyChunks, () => undefined);
  });
  onBandwidthChange((low) => (low ? undefined : precacheLazyChunks()));
  // A new build's worker took over: its lazy chunks are new files.
  navigator.serviceWorker.addEventListener('controllerchange', precacheLazyChunks);
  navigator.serviceWorker.addEventListener('message', (e: MessageEvent<{ type?: string }>) => {
    // Acknowledged from a notification: the feed brings the new state; nothing else to do.
    if (e.data?.type === 'acked') document.dispatchEvent(new CustomEvent('tocsin:acked'));
  });
}
