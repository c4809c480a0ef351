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

const dateTime = new Intl.DateTimeFormat(lang, { dateStyle: 'short', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(lang, { timeStyle: 'medium' });

/** A date and time in the user's time zone. */
export function formatDateTime(ms: number): string {
  return dateTime.format(ms);
}
export function formatTime(ms: number): string {
  return timeOnly.format(ms);
}
