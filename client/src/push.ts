import { V1, api } from './api.ts';

function keyBytes(base64url: string): Uint8Array {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(base64url.length / 4) * 4, '=');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

export function pushSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/**
 * Subscribes this browser to web push with the server's VAPID key and registers the
 * subscription; called from a tap (browsers ask for permission only on a user gesture).
 */
export async function enablePush(): Promise<'on' | 'denied'> {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return 'denied';
  const reg = await navigator.serviceWorker.ready;
  const { public_key } = await api<{ public_key: string }>('GET', `${V1}/push/vapid`);
  let sub = await reg.pushManager.getSubscription();
  const key = keyBytes(public_key);
  // A subscription made with another key (the server's keys changed) cannot receive: renew it.
  const oldKey = sub?.options.applicationServerKey;
  if (sub && oldKey && !sameBytes(new Uint8Array(oldKey), key)) {
    await sub.unsubscribe();
    sub = null;
  }
  sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key as BufferSource });
  await api('POST', `${V1}/push/subscriptions`, sub.toJSON());
  return 'on';
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
