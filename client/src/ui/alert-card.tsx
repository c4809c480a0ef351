import { formatDateTime, t } from '../i18n.ts';
import { acknowledge, needsAck, type Alert } from '../store.ts';

export function SeverityTag(props: { alert: Pick<Alert, 'sev' | 'drill'> }) {
  return (
    <span class="tags">
      {props.alert.drill ? <span class="tag drill">{t.drill}</span> : null}
      <span class={`tag sev-${props.alert.sev}`}>{t.severity[props.alert.sev] ?? props.alert.sev}</span>
    </span>
  );
}

/** The acknowledgement controls: one button, or one per roll-call answer. */
export function AckControls(props: { alert: Alert }) {
  const a = props.alert;
  if (a.queued) return <p class="status queued" role="status">{t.ackQueued}</p>;
  if (a.ack !== undefined) {
    return (
      <p class="status acked" role="status">
        ✓ {t.acknowledged} · {formatDateTime(a.ack)}
        {a.ans ? ` · ${t.yourAnswer}${t.colon}${a.ans}` : ''}
      </p>
    );
  }
  if (!needsAck(a)) return <p class="status">{t.state[a.state ?? ''] ?? a.state}</p>;
  return (
    <div class="ack">
      {a.error && <p class="error" role="alert">{a.error}</p>}
      {a.rc ? (
        <fieldset>
          <legend>{a.rc.question ?? t.rollcall}</legend>
          {a.rc.answers.map((answer) => (
            <button type="button" class="primary" onClick={() => void acknowledge(a.id, answer)}>
              {answer}
            </button>
          ))}
        </fieldset>
      ) : (
        <button type="button" class="primary ack-button" onClick={() => void acknowledge(a.id)} aria-label={`${t.acknowledge}${t.colon}${a.title}`}>
          {t.acknowledge}
        </button>
      )}
    </div>
  );
}

export function AlertCard(props: { alert: Alert }) {
  const a = props.alert;
  return (
    <li class={`card sev-${a.sev}${needsAck(a) ? ' pending' : ''}`} data-alert={a.id}>
      <div class="card-head">
        <SeverityTag alert={a} />
        <time dateTime={new Date(a.ts).toISOString()}>{formatDateTime(a.ts)}</time>
      </div>
      <h2>
        <a href={`#/alert/${encodeURIComponent(a.id)}`}>{a.title}</a>
      </h2>
      <p class="body">{a.body}</p>
      <AckControls alert={a} />
    </li>
  );
}
