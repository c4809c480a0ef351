import { t } from '../i18n.ts';
import { sortedAlerts, useStore } from '../store.ts';
import { AlertCard } from './alert-card.tsx';

export function Inbox() {
  const s = useStore();
  const alerts = sortedAlerts();
  return (
    <section aria-labelledby="inbox-title">
      <h1 id="inbox-title">{t.inbox}</h1>
      {!s.online && <p class="banner offline" role="status">{t.offline}</p>}
      {alerts.length === 0 ? (
        <p class="empty">{t.noAlerts}</p>
      ) : (
        <ul class="cards" aria-live="polite">
          {alerts.map((a) => (
            <AlertCard key={a.id} alert={a} />
          ))}
        </ul>
      )}
    </section>
  );
}
