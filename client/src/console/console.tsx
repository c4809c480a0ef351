import { useEffect, useState } from 'preact/hooks';
import { ApiError, V1, api } from '../api.ts';
import { formatDateTime, t } from '../i18n.ts';
import type { Session } from '../session.ts';
import { Board } from './board.tsx';
import { Compose, type Alerting } from './compose.tsx';
import { w } from './words.ts';

interface Sent {
  alert_id: string;
  severity: string;
  title: string;
  state: string;
  drill: boolean;
  created_at: number;
}

export function Console(props: { id?: string; session: Session }) {
  const [alerting, setAlerting] = useState<Alerting | null>(null);
  const [recent, setRecent] = useState<Sent[]>([]);
  const [error, setError] = useState('');

  useEffect(() => {
    if (props.id) return;
    api<Alerting>('GET', `${V1}/me/alerting`).then(setAlerting, (err: unknown) => setError(err instanceof ApiError ? err.message : t.networkError));
    api<{ alerts: Sent[] }>('GET', `${V1}/alerts?limit=20`).then((r) => setRecent(r.alerts), () => undefined);
  }, [props.id]);

  if (props.id) return <Board id={props.id} session={props.session} />;
  return (
    <section class="console" aria-labelledby="console-title">
      <h1 id="console-title">{w.title}</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {!alerting ? (
        !error && <p role="status">{t.loading}</p>
      ) : !alerting.can_send ? (
        <p class="banner">{w.notAllowed}</p>
      ) : (
        <div class="console-grid">
          <Compose alerting={alerting} onSent={(id) => (location.hash = `#/console/${encodeURIComponent(id)}`)} />
          <div>
            <h2>{w.recent}</h2>
            <ul class="recent">
              {recent.map((a) => (
                <li class={`sev-${a.severity}`}>
                  <a href={`#/console/${encodeURIComponent(a.alert_id)}`}>
                    <span class={`tag sev-${a.severity}`}>{t.severity[a.severity]}</span> {a.title}
                  </a>
                  <span class="meta">
                    {formatDateTime(a.created_at)} · {t.state[a.state] ?? a.state}
                  </span>
                </li>
              ))}
            </ul>
          </div>
        </div>
      )}
    </section>
  );
}
