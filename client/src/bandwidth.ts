// Low-bandwidth mode. On when the browser reports a 2G link (`navigator.connection`
// effectiveType 'slow-2g' or '2g') or the user asked for Save-Data, unless the user chose
// otherwise with the toggle in the header; the choice is kept on the device.
//
// Other chunks read it: `isLowBandwidth()` now, `onBandwidthChange(fn)` for changes (it returns
// the unsubscribe function). In low mode the app loads nothing it can do without: no avatars,
// no automatic media, smaller syncs, and the service worker does not fetch the lazy chunks
// ahead of use.

export type BandwidthMode = 'auto' | 'low' | 'normal';

interface NetworkInformation extends EventTarget {
  effectiveType?: string;
  saveData?: boolean;
}

const KEY = 'tocsin.bandwidth';
const listeners = new Set<(low: boolean) => void>();

function connection(): NetworkInformation | undefined {
  return typeof navigator === 'undefined' ? undefined : (navigator as Navigator & { connection?: NetworkInformation }).connection;
}

/** What the network says, whatever the user chose. */
export function networkIsSlow(): boolean {
  const c = connection();
  return c !== undefined && (c.saveData === true || c.effectiveType === 'slow-2g' || c.effectiveType === '2g');
}

export function bandwidthMode(): BandwidthMode {
  try {
    const m = localStorage.getItem(KEY);
    return m === 'low' || m === 'normal' ? m : 'auto';
  } catch {
    return 'auto';
  }
}

export function isLowBandwidth(): boolean {
  const m = bandwidthMode();
  return m === 'auto' ? networkIsSlow() : m === 'low';
}

let last = isLowBandwidth();

function changed(): void {
  const low = isLowBandwidth();
  if (typeof document !== 'undefined') document.documentElement.dataset.bandwidth = low ? 'low' : 'normal';
  if (low === last) return;
  last = low;
  for (const l of listeners) l(low);
}

/** The user's choice; 'auto' follows the network again. */
export function setBandwidthMode(mode: BandwidthMode): void {
  try {
    if (mode === 'auto') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, mode);
  } catch {
    // storage disabled: the choice lasts until the page closes
  }
  changed();
}

/** One toggle: the opposite of now; back to 'auto' when that is what the network says anyway. */
export function toggleLowBandwidth(): void {
  const low = !isLowBandwidth();
  setBandwidthMode(low === networkIsSlow() ? 'auto' : low ? 'low' : 'normal');
}

export function onBandwidthChange(fn: (low: boolean) => void): () => void {
  listeners.add(fn);
  return () => void listeners.delete(fn);
}

connection()?.addEventListener('change', changed);
// Another tab changed the choice, or a lost-phone wipe removed it.
if (typeof window !== 'undefined') addEventListener('storage', (e) => e.key === KEY || e.key === null ? changed() : undefined);
changed();
