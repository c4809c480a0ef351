import { useMemo, useState } from 'preact/hooks';
import { ApiError, V1, api } from '../api.ts';
import { t } from '../i18n.ts';
import { AudiencePicker, type AudienceItem } from './audience-picker.tsx';
import { previewSms } from './sms-preview.ts';
import { w } from './words.ts';

export interface Step {
  after_s: number;
  channels: string[];
}
export interface Alerting {
  can_send: boolean;
  default_escalation: Step[];
  channels: string[];
}

const ALL_CHANNELS = ['matrix', 'webpush', 'sms', 'email'];
const SEVERITIES = ['info', 'warning', 'critical'] as const;

/** The plan as each recipient will live it: when, and through which channels. */
export function EscalationPreview(props: { plan: Step[]; configured: string[] }) {
  return (
    <ol class="plan" aria-label={w.escalation}>
      {[...props.plan]
        .sort((a, b) => a.after_s - b.after_s)
        .map((s) => (
          <li>
            <strong>{w.after(s.after_s)}</strong>
            {t.colon}
            {s.channels.map((c) => (
              <span class={props.configured.includes(c) ? 'chip' : 'chip off'} title={props.configured.includes(c) ? undefined : w.unconfigured}>
                {w.channel[c] ?? c}
                {props.configured.includes(c) ? '' : ` (${w.unconfigured})`}
              </span>
            ))}
          </li>
        ))}
    </ol>
  );
}

export function Compose(props: { alerting: Alerting; onSent: (id: string) => void }) {
  const [audience, setAudience] = useState<AudienceItem[]>([]);
  const [severity, setSeverity] = useState<(typeof SEVERITIES)[number]>('warning');
  const [drill, setDrill] = useState(false);
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const [rollcall, setRollcall] = useState('');
  const [custom, setCustom] = useState<Step[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  const plan = custom ?? props.alerting.default_escalation;
  const sms = useMemo(() => previewSms({ severity, title, body, drill }, location.origin), [severity, title, body, drill]);
  const smsInPlan = plan.some((s) => s.channels.includes('sms'));

  const submit = async (e: Event) => {
    e.preventDefault();
    const all = audience.map((a) => a.id);
    if (all.length === 0) {
      setError(w.audienceHint);
      return;
    }
    if (severity === 'critical' && !drill && !confirm(w.confirmCritical)) return;
    const answers = rollcall.split(',').map((a) => a.trim()).filter(Boolean);
    setBusy(true);
    setError('');
    try {
      const r = await api<{ alert_id: string }>('POST', `${V1}/alerts`, {
        severity,
        title,
        body,
        audience: all,
        ...(drill ? { drill: true } : {}),
        ...(custom ? { escalation: custom } : {}),
        ...(answers.length >= 2 ? { rollcall: { answers } } : {}),
      });
      props.onSent(r.alert_id);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : t.networkError);
    } finally {
      setBusy(false);
    }
  };

  const setStep = (i: number, step: Step) => setCustom(plan.map((s, j) => (j === i ? step : s)));

  return (
    <form class="compose" onSubmit={submit} aria-labelledby="compose-title">
      <h2 id="compose-title">{w.compose}</h2>

      <AudiencePicker value={audience} onChange={setAudience} onError={setError} />

      <fieldset class="severity">
        <legend>{w.severity}</legend>
        {SEVERITIES.map((s) => (
          <label class={`sev-choice sev-${s}`}>
            <input type="radio" name="severity" value={s} checked={severity === s} onChange={() => setSeverity(s)} /> {t.severity[s]}
          </label>
        ))}
        <label>
          <input type="checkbox" checked={drill} onChange={(e) => setDrill(e.currentTarget.checked)} /> {w.drill}
        </label>
      </fieldset>

      <label for="alert-title">{w.alertTitle}</label>
      <input id="alert-title" required maxLength={120} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      <label for="alert-body">{w.body}</label>
      <textarea id="alert-body" required maxLength={480} rows={3} value={body} aria-describedby="sms-count" onInput={(e) => setBody(e.currentTarget.value)} />
      <p id="sms-count" class={sms.segments > 1 || sms.cut ? 'hint warn' : 'hint'} aria-live="polite">
        {w.smsCount(sms.segments, sms.encoding, sms.units)}
        {sms.cut ? ` · ${w.smsCut}` : ''}
      </p>
      {smsInPlan && (
        <details>
          <summary>{w.smsPreview}</summary>
          <pre class="sms">{sms.text}</pre>
        </details>
      )}
      <label for="alert-rollcall">{w.rollcall}</label>
      <input id="alert-rollcall" value={rollcall} placeholder="OK, Besoin d’aide" onInput={(e) => setRollcall(e.currentTarget.value)} />

      <fieldset>
        <legend>{w.escalation}</legend>
        <label>
          <input type="checkbox" checked={custom === null} onChange={(e) => setCustom(e.currentTarget.checked ? null : props.alerting.default_escalation.map((s) => ({ ...s, channels: [...s.channels] })))} /> {w.useDefault}
        </label>
        {custom !== null &&
          custom.map((s, i) => (
            <div class="step">
              <label>
                {w.delay} <input type="number" min={0} max={604800} value={s.after_s} onInput={(e) => setStep(i, { ...s, after_s: Math.max(0, Number(e.currentTarget.value) || 0) })} />
              </label>
              {ALL_CHANNELS.map((c) => (
                <label>
                  <input
                    type="checkbox"
                    checked={s.channels.includes(c)}
                    onChange={(e) => setStep(i, { ...s, channels: e.currentTarget.checked ? [...s.channels, c] : s.channels.filter((x) => x !== c) })}
                  />{' '}
                  {w.channel[c]}
                </label>
              ))}
              <button type="button" class="link" aria-label={`${w.remove} ${w.after(s.after_s)}`} onClick={() => setCustom(custom.filter((_, j) => j !== i))}>
                ×
              </button>
            </div>
          ))}
        {custom !== null && custom.length < 10 && (
          <button type="button" onClick={() => setCustom([...custom, { after_s: (custom.at(-1)?.after_s ?? 0) + 300, channels: ['sms'] }])}>
            {w.addStep}
          </button>
        )}
        <EscalationPreview plan={plan.filter((s) => s.channels.length > 0)} configured={props.alerting.channels} />
      </fieldset>

      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" class={`primary send sev-${severity}`} disabled={busy}>
        {busy ? w.sending : w.send}
      </button>
    </form>
  );
}
