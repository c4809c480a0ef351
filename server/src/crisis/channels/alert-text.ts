import type { Delivery, Severity } from './channel.ts';

// The words every text channel (email, SMS) puts around an alert, in the recipient's
// language. French is the default: Tocsin is written for French institutions first.

export type Language = 'fr' | 'en';

export function languageOf(recipient: Delivery['recipient']): Language {
  return recipient.language?.toLowerCase().startsWith('en') ? 'en' : 'fr';
}

const severityLabels: Record<Language, Record<Severity, string>> = {
  fr: { info: 'INFO', warning: 'ATTENTION', critical: 'CRITIQUE' },
  en: { info: 'INFO', warning: 'WARNING', critical: 'CRITICAL' },
};

const words = {
  fr: {
    drill: 'EXERCICE',
    drillNotice: 'Ceci est un exercice.',
    ack: 'Accuser réception',
    replyHint: (code: string) => `Ou répondez par SMS : OK ${code}`,
    smsReply: (code: string) => `Rép. OK ${code}`,
  },
  en: {
    drill: 'DRILL',
    drillNotice: 'This is a drill.',
    ack: 'Acknowledge',
    replyHint: (code: string) => `Or reply by SMS: OK ${code}`,
    smsReply: (code: string) => `Reply OK ${code}`,
  },
} as const;

export function wordsFor(language: Language): (typeof words)[Language] {
  return words[language];
}

export function severityLabel(severity: Severity, language: Language): string {
  return severityLabels[language][severity];
}

/** "[EXERCICE] [CRITIQUE]": the tag that opens a subject line or an SMS. */
export function alertTag(alert: Delivery['alert'], language: Language): string {
  const severity = `[${severityLabel(alert.severity, language)}]`;
  return alert.drill ? `[${words[language].drill}] ${severity}` : severity;
}
