// The signed-in session and everything kept on the device. All keys start with `tocsin.`,
// so a lost-phone wipe (M_UNKNOWN_TOKEN) removes exactly what the app stored.

export interface Session {
  userId: string;
  token: string;
  deviceId: string;
}

const KEY = 'tocsin.session';

export function loadSession(): Session | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null;
    return s && typeof s.token === 'string' && typeof s.userId === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session): void {
  localStorage.setItem(KEY, JSON.stringify(s));
}

/** Removes every local trace: storage, caches of API data, notifications (through the worker). */
export async function wipeLocalData(): Promise<void> {
  for (const k of Object.keys(localStorage)) if (k.startsWith('tocsin.')) localStorage.removeItem(k);
  try {
    sessionStorage.clear();
  } catch {
    // storage disabled: nothing to clear
  }
  navigator.serviceWorker?.controller?.postMessage({ type: 'wipe' });
  try {
    const reg = await navigator.serviceWorker?.getRegistration();
    const sub = await reg?.pushManager?.getSubscription();
    await sub?.unsubscribe();
  } catch {
    // no push subscription to drop
  }
}
