import { useEffect, useState } from 'preact/hooks';
import { ApiError, V1, api } from '../api.ts';
import { formatDateTime, formatWhen, t } from '../i18n.ts';
import type { Session } from '../session.ts';
import { EscalationPreview, type Step } from './compose.tsx';
import { w } from './words.ts';

interface Delivery {
  channel: string;
  step: number;
  state: string;
  at: number;
  error?: string;
}
interface Recipient {
  user_id: string;
  acknowledged_at: number | null;
  ack_channel: string | null;
  rollcall_answer?: string;
  deliveries: Delivery[];
}
export interface Status {
  alert_id: string;
  state: string;
  severity: 'info' | 'warning' | 'critical';
  title: string;
  body: string;
  drill: boolean;
  escalation: Step[];
  created_at: number;
  counts: { recipients: number; acknowledged: number; pending: number };
  recipients: Recipient[];
  rollcall?: { question?: string; answers: string[] };
}

/** Where a pending person stands: the last step already sent, or the next one due. */
function progress(r: Recipient): string {
  const done = r.deliveries.filter((d) => d.state !== 'pending' && d.state !== 'held' && d.state !== 'cancelled');
  const last = done.at(-1);
  const next = r.deliveries.find((d) => d.state === 'pending' || d.state === 'held');
  const parts: string[] = [];
  if (last) parts.push(`${w.step} ${last.step + 1} · ${w.channel[last.channel] ?? last.channel} ${w.dstate[last.state] ?? last.state}`);
  if (next) parts.push(`→ ${w.channel[next.channel] ?? next.channel} ${w.dstate[next.state] ?? next.state} ${formatWhen(next.at)}`);
  return parts.join(' ');
}

/**
 * The live acknowledgement board: the server pushes the full status over a WebSocket each
 * time something changes; on a lost connection it reconnects (the first message is the
 * current status, so nothing is missed).
 */
export function Board(props: { id: string; session: Session }) {
  const [status, setStatus] = useState<Status | null>(null);
  const [live, setLive] = useState(false);
  const [error, setError] = useState('');

  useEffect(() => {
    let ws: WebSocket | undefined;
    let stopped = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let delay = 1000;
    const connect = () => {
      const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${V1}/alerts/${encodeURIComponent(props.id)}/live?access_token=${encodeURIComponent(props.session.token)}`;
      ws = new WebSocket(url);
      ws.onopen = () => {
        setLive(true);
        delay = 1000;
      };
      ws.onmessage = (e) => {
        const msg = JSON.parse(String(e.data)) as Status & { errcode?: string; error?: string };
        if (msg.errcode) {
          setError(msg.error ?? msg.errcode);
          stopped = true;
          return;
        }
        setStatus(msg);
      };
      ws.onclose = () => {
        setLive(false);
        if (stopped) return;
        retry = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30_000);
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      ws?.close();
    };
  }, [props.id, props.session.token]);

  const finish = async (how: 'cancel' | 'close') => {
    if (!confirm(how === 'cancel' ? w.confirmCancel : w.confirmClose)) return;
    try {
      await api('POST', `${V1}/alerts/${encodeURIComponent(props.id)}/${how}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : t.networkError);
    }
  };

  if (error && !status) return <p class="error" role="alert">{error}</p>;
  if (!status) return <p role="status">{t.loading}</p>;
  const acked = status.recipients.filter((r) => r.acknowledged_at !== null).sort((a, b) => a.acknowledged_at! - b.acknowledged_at!);
  const pending = status.recipients.filter((r) => r.acknowledged_at === null);
  const pct = status.counts.recipients ? Math.round((100 * status.counts.acknowledged) / status.counts.recipients) : 0;
  return (
    <section class="board" aria-labelledby="board-title">
      <a href="#/console" class="back">
        ← {t.back}
      </a>
      <p>
        {status.drill && <span class="tag drill">{t.drill}</span>} <span class={`tag sev-${status.severity}`}>{t.severity[status.severity]}</span>{' '}
        <span class="tag">{t.state[status.state] ?? status.state}</span> <span class={live ? 'live on' : 'live'}>{live ? `● ${w.live}` : w.reconnecting}</span>
      </p>
      <h1 id="board-title">{status.title}</h1>
      <p class="body">{status.body}</p>
      <p class="meta">{formatDateTime(status.created_at)}</p>
      <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={status.counts.recipients} aria-valuenow={status.counts.acknowledged} aria-label={w.acknowledged}>
        <div class="bar" data-pct={pct}>
          <span class="fill" style={{ width: `${pct}%` }} />
        </div>
        <p class="counts" aria-live="polite">
          <strong data-testid="ack-count">{status.counts.acknowledged}</strong> / {status.counts.recipients} {w.acknowledged.toLowerCase()} · {status.counts.pending} {w.pending.toLowerCase()}
        </p>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {status.rollcall && (
        <table class="rollcall">
          <caption>{status.rollcall.question ?? w.answer}</caption>
          <tbody>
            {status.rollcall.answers.map((answer) => (
              <tr>
                <th scope="row">{answer}</th>
                <td>{status.recipients.filter((r) => r.rollcall_answer === answer).length}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="columns">
        <div>
          <h2>{w.acknowledged}</h2>
          <ul class="people acked" aria-live="polite">
            {acked.map((r) => (
              <li data-user={r.user_id}>
                <span class="who">{r.user_id}</span>
                <span class="how">
                  {formatWhen(r.acknowledged_at!)} · {w.via} {w.channel[r.ack_channel ?? ''] ?? r.ack_channel}
                  {r.rollcall_answer ? ` · ${w.answer}${t.colon}${r.rollcall_answer}` : ''}
                </span>
              </li>
            ))}
          </ul>
        </div>
        <div>
          <h2>{w.pending}</h2>
          {pending.length === 0 && <p class="meta">—</p>}
          <ul class="people pending">
            {pending.map((r) => (
              <li data-user={r.user_id}>
                <span class="who">{r.user_id}</span>
                <span class="how">{progress(r)}</span>
              </li>
            ))}
          </ul>
        </div>
      </div>
      <h2>{w.escalation}</h2>
      <EscalationPreview plan={status.escalation} configured={status.escalation.flatMap((s) => s.channels)} />
      {status.state === 'active' || status.state === 'acknowledged' ? (
        <div class="actions">
          <button type="button" onClick={() => void finish('close')}>
            {w.close}
          </button>
          <button type="button" class="danger" onClick={() => void finish('cancel')}>
            {w.cancel}
          </button>
        </div>
      ) : null}
    </section>
  );
}
