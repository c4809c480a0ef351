import { formatDateTime, t } from '../i18n.ts';
import { useStore } from '../store.ts';
import { AckControls, SeverityTag } from './alert-card.tsx';

export function AlertView(props: { id: string }) {
  const s = useStore();
  const a = s.alerts.get(props.id);
  return (
    <article class={a ? `alert-view sev-${a.sev}` : 'alert-view'} aria-labelledby="alert-title">
      <a href="#/" class="back">
        ← {t.back}
      </a>
      {!a ? (
        <p>{t.notFound}</p>
      ) : (
        <>
          <SeverityTag alert={a} />
          <h1 id="alert-title">{a.title}</h1>
          <p class="meta">
            {t.received}{t.colon}<time dateTime={new Date(a.ts).toISOString()}>{formatDateTime(a.ts)}</time>
            {a.state && a.state !== 'active' ? ` · ${t.state[a.state] ?? a.state}` : ''}
          </p>
          <p class="body full">{a.body}</p>
          <AckControls alert={a} />
          {a.code && a.ack === undefined && (
            <p class="meta">
              {t.replyCode}{t.colon}<strong>OK {a.code}</strong>
            </p>
          )}
        </>
      )}
    </article>
  );
}
