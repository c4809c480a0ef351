import { ApiError, V1 } from '../api.ts';
import { loadSession } from '../session.ts';

/**
 * Downloads an export through fetch with the access token (never in a URL, where it would land
 * in history and logs) and hands it to the browser as a file.
 */
export async function downloadExport(roomId: string, query: URLSearchParams, format: 'csv' | 'html'): Promise<void> {
  const q = new URLSearchParams(query);
  q.set('format', format);
  const res = await fetch(`${V1}/rooms/${encodeURIComponent(roomId)}/logbook?${q}`, {
    headers: { authorization: `Bearer ${loadSession()?.token ?? ''}` },
    cache: 'no-store',
  });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { errcode?: string; error?: string };
    throw new ApiError(res.status, body.errcode ?? 'M_UNKNOWN', body.error ?? `HTTP ${res.status}`);
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `logbook.${format}`;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
