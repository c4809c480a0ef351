import { createHash } from 'node:crypto';
import type { Delivery } from './channel.ts';
import { alertTag, languageOf, wordsFor } from './alert-text.ts';

// What an alert email says. Kept apart from the transport so that it can be read and tested
// without an SMTP server.

export interface EmailContent {
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
  /** With angle brackets, as it appears in the Message-ID header. */
  messageId: string;
}

const htmlEntities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => htmlEntities[c]!);
}

/** Only http(s) links are rendered as links: anything else (javascript:, data:) would be a trap. */
function safeLink(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** The domain part of the From address, for Message-IDs that the sender's domain owns. */
function senderDomain(from: string): string {
  const match = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from);
  return match?.[1]?.toLowerCase() ?? 'tocsin.invalid';
}

/**
 * The Message-ID derives from the delivery id: a retry of the same delivery carries the same
 * id, so receiving servers and clients can drop the duplicate.
 */
export function messageIdFor(deliveryId: string, from: string): string {
  const hash = createHash('sha256').update(deliveryId).digest('base64url').slice(0, 24);
  return `<tocsin.${hash}@${senderDomain(from)}>`;
}

export function composeEmail(delivery: Delivery, from: string): EmailContent {
  const { alert, recipient } = delivery;
  const language = languageOf(recipient);
  const w = wordsFor(language);
  const tag = alertTag(alert, language);
  const subject = `${tag} ${alert.title}`.replace(/[\r\n]+/g, ' ');
  const link = safeLink(delivery.ackUrl);

  const textLines = [tag, alert.title, '', alert.body, ''];
  if (alert.drill) textLines.push(w.drillNotice, '');
  // French typography puts a space before the colon.
  if (link) textLines.push(`${w.ack}${language === 'fr' ? ' :' : ':'} ${link}`);
  textLines.push(w.replyHint(delivery.replyCode), '');

  const paragraphs = escapeHtml(alert.body).replace(/\r?\n/g, '<br>');
  const html = [
    `<!doctype html><html lang="${language}"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>`,
    '<body style="font-family:sans-serif">',
    `<p><strong>${escapeHtml(tag)}</strong></p>`,
    `<h1 style="font-size:1.3em">${escapeHtml(alert.title)}</h1>`,
    `<p>${paragraphs}</p>`,
    alert.drill ? `<p><em>${escapeHtml(w.drillNotice)}</em></p>` : '',
    link ? `<p><a href="${escapeHtml(link)}" style="font-size:1.2em;font-weight:bold">${escapeHtml(w.ack)}</a></p>` : '',
    `<p>${escapeHtml(w.replyHint(delivery.replyCode))}</p>`,
    '</body></html>',
  ].join('');

  const headers: Record<string, string> = {
    // Keeps vacation responders and mailing-list loops away from an alert.
    'Auto-Submitted': 'auto-generated',
    'X-Auto-Response-Suppress': 'All',
    'X-Tocsin-Alert': alert.alertId,
  };
  if (alert.severity === 'critical') {
    // The three spellings that mail clients read to flag a message as urgent.
    headers['X-Priority'] = '1';
    headers['Importance'] = 'high';
    headers['Priority'] = 'urgent';
  }
  return { subject, text: textLines.join('\n'), html, headers, messageId: messageIdFor(delivery.deliveryId, from) };
}
