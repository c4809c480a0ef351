// French and English. French when the browser prefers it (the first of its languages that is
// French or English decides), English otherwise.

const fr = {
  appName: 'Tocsin',
  signIn: 'Connexion',
  username: 'Identifiant',
  password: 'Mot de passe',
  signInButton: 'Se connecter',
  signingIn: 'Connexion…',
  badLogin: 'Identifiant ou mot de passe incorrect.',
  networkError: 'Réseau indisponible. Réessayez.',
  signOut: 'Se déconnecter',
  inbox: 'Alertes',
  noAlerts: 'Aucune alerte.',
  offline: 'Hors ligne : dernières alertes connues.',
  acknowledge: 'Accuser réception',
  acknowledged: 'Réception accusée',
  ackQueued: 'Accusé en attente du réseau',
  pendingAck: 'À accuser',
  drill: 'EXERCICE',
  severity: { critical: 'Critique', warning: 'Attention', info: 'Information' } as Record<string, string>,
  state: { active: 'En cours', cancelled: 'Annulée', closed: 'Close', expired: 'Expirée', acknowledged: 'Accusée par tous' } as Record<string, string>,
  rollcall: 'Appel : votre réponse',
  yourAnswer: 'Votre réponse',
  replyCode: 'Code de réponse SMS',
  back: 'Retour',
  notFound: 'Alerte introuvable.',
  enableNotifications: 'Activer les notifications',
  notificationsOn: 'Notifications activées',
  notificationsDenied: 'Notifications refusées par le navigateur.',
  notificationsFailed: 'Abonnement impossible :',
  console: 'Console de crise',
  rooms: 'Salons',
  loading: 'Chargement…',
  sessionEnded: 'Session terminée : données locales effacées.',
  received: 'Reçue',
  skip: 'Aller au contenu',
  lowData: 'Économie de données',
  lowDataAuto: 'Automatique : suit le réseau (2G, économiseur de données)',
  auto: 'auto',
  /** French sets a colon apart with a space. */
  colon: ' : ',
};

const en: typeof fr = {
  appName: 'Tocsin',
  signIn: 'Sign in',
  username: 'Username',
  password: 'Password',
  signInButton: 'Sign in',
  signingIn: 'Signing in…',
  badLogin: 'Wrong username or password.',
  networkError: 'Network unavailable. Try again.',
  signOut: 'Sign out',
  inbox: 'Alerts',
  noAlerts: 'No alerts.',
  offline: 'Offline: last known alerts.',
  acknowledge: 'Acknowledge',
  acknowledged: 'Acknowledged',
  ackQueued: 'Acknowledgement waiting for the network',
  pendingAck: 'To acknowledge',
  drill: 'DRILL',
  severity: { critical: 'Critical', warning: 'Warning', info: 'Information' },
  state: { active: 'Active', cancelled: 'Cancelled', closed: 'Closed', expired: 'Expired', acknowledged: 'Acknowledged by all' },
  rollcall: 'Roll call: your answer',
  yourAnswer: 'Your answer',
  replyCode: 'SMS reply code',
  back: 'Back',
  notFound: 'Alert not found.',
  enableNotifications: 'Enable notifications',
  notificationsOn: 'Notifications enabled',
  notificationsDenied: 'Notifications blocked by the browser.',
  notificationsFailed: 'Could not subscribe:',
  console: 'Crisis console',
  rooms: 'Rooms',
  loading: 'Loading…',
  sessionEnded: 'Session ended: local data wiped.',
  received: 'Received',
  skip: 'Skip to content',
  lowData: 'Data saver',
  lowDataAuto: 'Automatic: follows the network (2G, Save-Data)',
  auto: 'auto',
  colon: ': ',
};

export type Strings = typeof fr;

export function pickLanguage(languages: readonly string[]): 'fr' | 'en' {
  for (const l of languages) {
    if (/^fr\b/i.test(l)) return 'fr';
    if (/^en\b/i.test(l)) return 'en';
  }
  return 'en';
}

export const lang = pickLanguage(typeof navigator === 'undefined' ? [] : navigator.languages ?? [navigator.language]);
export const t: Strings = lang === 'fr' ? fr : en;

/**
 * The browser's own variant of the app's language, for dates: en-GB writes 25/11/2026 17:15,
 * en-US 11/25/26 5:15 PM, fr-CA 2026-11-25. Plain `lang` when none is listed or it is not valid.
 */
export function dateLocale(language: 'fr' | 'en', languages: readonly string[]): string {
  const wanted = languages.find((l) => new RegExp(`^${language}\\b`, 'i').test(l));
  try {
    return wanted ? Intl.DateTimeFormat.supportedLocalesOf(wanted)[0] ?? language : language;
  } catch {
    return language;
  }
}

const locale = dateLocale(lang, typeof navigator === 'undefined' ? [] : navigator.languages ?? [navigator.language]);
const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: 'short', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(locale, { timeStyle: 'medium' });

/** A date and time in the user's time zone. */
export function formatDateTime(ms: number): string {
  return dateTime.format(ms);
}

// Calendar day in the user's zone (the fixed format only serves to compare days).
const dayOf = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit' });

/** The time alone for today (in the user's time zone), the date and time for any other day. */
export function formatWhen(ms: number, now = Date.now()): string {
  return dayOf.format(ms) === dayOf.format(now) ? timeOnly.format(ms) : dateTime.format(ms);
}
