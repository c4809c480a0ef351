import type { AlertRow, RecipientRow } from '../../storage/alerts.ts';

// The page behind each SMS and email link: plain HTML, no JavaScript, no external resource,
// a few hundred bytes of CSS, so that it opens on a 2G phone in a second and stays under 4 KB.

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE =
  'body{font:16px/1.4 system-ui,sans-serif;margin:0;padding:1em;max-width:32em}' +
  'h1{font-size:1.2em}.critical{color:#b00}.warning{color:#a50}' +
  'button{font-size:1.1em;padding:.6em 1.2em;margin:.3em 0;width:100%}' +
  '.ok{background:#e6f4ea;padding:.8em}';

const LABEL = { info: 'Information', warning: 'Alerte', critical: 'Alerte critique' } as const;

function page(title: string, inner: string): string {
  return `<!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title><style>${STYLE}</style></head><body>${inner}</body></html>`;
}

export function ackPage(alert: AlertRow, recipient: RecipientRow, token: string, state: 'ask' | 'done' | 'closed'): string {
  const label = `${alert.drill ? 'EXERCICE – ' : ''}${LABEL[alert.severity]}`;
  const head = `<p class="${alert.severity}"><strong>${esc(label)}</strong></p><h1>${esc(alert.title)}</h1><p>${esc(alert.body)}</p>`;
  if (state === 'closed') return page(alert.title, `${head}<p>Cette alerte est terminée.</p>`);
  if (state === 'done' || recipient.acknowledged_ts !== null) {
    const answer = recipient.rollcall_answer ? ` Réponse : ${esc(recipient.rollcall_answer)}.` : '';
    return page(alert.title, `${head}<p class="ok">Accusé de réception enregistré.${answer}</p>`);
  }
  const action = `/ack/${esc(token)}`;
  const buttons = alert.rollcall
    ? `<p>${esc(alert.rollcall.question)}</p>${alert.rollcall.answers.map((a) => `<button name="answer" value="${esc(a)}">${esc(a)}</button>`).join('')}`
    : '<button>J’ai reçu l’alerte</button>';
  return page(alert.title, `${head}<form method="post" action="${action}">${buttons}</form>`);
}

export function errorPage(message: string): string {
  return page('Tocsin', `<h1>Lien invalide</h1><p>${esc(message)}</p>`);
}
