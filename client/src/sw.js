/* The Tocsin service worker. The build (build/pwa-plugin.ts) fills in the precache list and
   the version. It keeps the shell offline, shows alert notifications from web push, and
   acknowledges from the notification's action without opening the app. */

const PRECACHE = self.__PRECACHE__;
/** The lazy chunks: fetched ahead of use when the app asks (not in low-bandwidth mode), else on first use. */
const LAZY = self.__LAZY__;
const VERSION = self.__VERSION__;
const CACHE = `tocsin-shell-${VERSION}`;

const WORDS = {
  fr: { ack: 'Accuser réception', acked: 'Réception accusée', failed: 'Échec de l’accusé, ouvrez Tocsin', drill: 'EXERCICE', critical: 'CRITIQUE', warning: 'ATTENTION', info: 'INFO' },
  en: { ack: 'Acknowledge', acked: 'Acknowledged', failed: 'Acknowledgement failed, open Tocsin', drill: 'DRILL', critical: 'CRITICAL', warning: 'WARNING', info: 'INFO' },
};
function words() {
  const langs = (self.navigator && self.navigator.languages) || [];
  for (const l of langs) {
    if (/^fr/i.test(l)) return WORDS.fr;
    if (/^en/i.test(l)) return WORDS.en;
  }
  return WORDS.en;
}

// Long, insistent for critical alerts; one short buzz otherwise.
const VIBRATE = { critical: [600, 200, 600, 200, 600, 200, 1200], warning: [300, 150, 300], info: [200] };

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' })))).then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('tocsin-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function isApi(path) {
  return path.startsWith('/_matrix/') || path.startsWith('/_tocsin/') || path.startsWith('/_synapse/') || path.startsWith('/ack/');
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || isApi(url.pathname)) return;
  if (request.mode === 'navigate') {
    // The shell from the cache at once (a warm start on 2G costs no round trip); the network
    // only when the cache lacks it. A new build arrives with a new worker.
    event.respondWith(caches.match('/', { cacheName: CACHE }).then((hit) => hit || fetch(request)));
    return;
  }
  event.respondWith(caches.match(request, { cacheName: CACHE }).then((hit) => hit || fetchAndKeep(request, url.pathname)));
});

/** A file of this build fetched on first use (a lazy chunk) is kept, so it opens offline next time. */
async function fetchAndKeep(request, path) {
  const res = await fetch(request);
  if (res.ok && LAZY.includes(path)) {
    const copy = res.clone();
    caches.open(CACHE).then((cache) => cache.put(path, copy)).catch(() => undefined);
  }
  return res;
}

/** The lazy chunks not cached yet, one at a time (a phone on a fair link, not in low mode). */
async function precacheLazy() {
  const cache = await caches.open(CACHE);
  for (const path of LAZY) {
    if (await cache.match(path)) continue;
    try {
      const res = await fetch(new Request(path, { cache: 'reload' }));
      if (res.ok) await cache.put(path, res);
    } catch {
      return; // offline: the next start asks again
    }
  }
}

/** What a push from the server holds: {t, id, sev, title, body, ack_url, token, drill}. */
function parsePush(data) {
  try {
    const p = data ? data.json() : null;
    if (p && p.t === 'alert' && typeof p.id === 'string') return p;
  } catch {
    // not JSON: shown as a plain notice below
  }
  return null;
}

async function updateBadge() {
  const shown = await self.registration.getNotifications();
  const count = shown.filter((n) => n.data && n.data.t === 'alert').length;
  if ('setAppBadge' in self.navigator) {
    try {
      if (count > 0) await self.navigator.setAppBadge(count);
      else await self.navigator.clearAppBadge();
    } catch {
      // badges are a hint; a platform without them changes nothing
    }
  }
}

async function tellClients(message) {
  const all = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const c of all) c.postMessage(message);
}

async function showAlert(p) {
  const w = words();
  const tag = `${p.drill ? `[${w.drill}] ` : ''}[${w[p.sev] || p.sev}]`;
  await self.registration.showNotification(`${tag} ${p.title}`, {
    body: p.body,
    tag: `alert-${p.id}`,
    renotify: true,
    requireInteraction: p.sev === 'critical',
    silent: false,
    vibrate: VIBRATE[p.sev] || VIBRATE.info,
    icon: '/icons/icon-192.png',
    badge: '/icons/badge-96.png',
    timestamp: Date.now(),
    data: p,
    actions: p.ack_url ? [{ action: 'ack', title: w.ack }] : [],
  });
  await updateBadge();
  await tellClients({ type: 'push', alert: p.id });
}

self.addEventListener('push', (event) => {
  const p = parsePush(event.data);
  if (!p) return;
  event.waitUntil(showAlert(p));
});

/**
 * The Acknowledge action: POST the per-delivery link (no login needed, the token is signed),
 * then replace the notification with a short confirmation. On failure the app is opened.
 */
async function acknowledgeFromNotification(p) {
  const w = words();
  let ok = false;
  try {
    // The link's path on this origin: the app and the acknowledgement page come from the same
    // server, and the worker's CSP allows only its own origin.
    const url = new URL(new URL(p.ack_url).pathname, self.location.origin);
    const res = await fetch(url, { method: 'POST', headers: { accept: 'application/json' } });
    ok = res.ok;
  } catch {
    ok = false;
  }
  for (const n of await self.registration.getNotifications({ tag: `alert-${p.id}` })) n.close();
  if (ok) {
    await tellClients({ type: 'acked', alert: p.id });
    await self.registration.showNotification(`${w.acked}: ${p.title}`, { tag: `acked-${p.id}`, silent: true, icon: '/icons/icon-192.png', badge: '/icons/badge-96.png', data: { t: 'acked', id: p.id } });
  } else {
    await openApp(p.id);
  }
  await updateBadge();
  return ok;
}

async function openApp(alertId) {
  const target = alertId ? `/#/alert/${encodeURIComponent(alertId)}` : '/';
  const all = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const c of all) {
    if ('focus' in c) {
      if ('navigate' in c) await c.navigate(target).catch(() => undefined);
      return c.focus();
    }
  }
  return self.clients.openWindow(target);
}

self.addEventListener('notificationclick', (event) => {
  const n = event.notification;
  const p = n.data || {};
  if (event.action === 'ack' && p.t === 'alert') {
    event.waitUntil(acknowledgeFromNotification(p));
    return;
  }
  n.close();
  event.waitUntil(openApp(p.id).then(updateBadge));
});

self.addEventListener('notificationclose', (event) => {
  event.waitUntil(updateBadge());
});

self.addEventListener('message', (event) => {
  // The app clears the badge and notifications of alerts it has acknowledged itself.
  const m = event.data || {};
  if (m.type === 'acked' && typeof m.alert === 'string') {
    event.waitUntil(
      self.registration.getNotifications({ tag: `alert-${m.alert}` }).then((ns) => {
        for (const n of ns) n.close();
        return updateBadge();
      }),
    );
  }
  if (m.type === 'wipe') event.waitUntil(wipe());
  if (m.type === 'precache-lazy') event.waitUntil(precacheLazy());
});

/** Lost phone (M_UNKNOWN_TOKEN): notifications and caches go; the shell is fetched again. */
async function wipe() {
  for (const n of await self.registration.getNotifications()) n.close();
  await updateBadge();
}

// Exposed for tests and for the app: the same path the notification action takes.
self.tocsinAcknowledge = acknowledgeFromNotification;
self.tocsinShowAlert = showAlert;
