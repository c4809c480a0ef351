import { describe, expect, it } from 'vitest';
import { dateLocale, formatDateTime, formatWhen, lang, pickLanguage } from '../../../client/src/i18n.ts';

describe('the app language', () => {
  it('is French when the browser prefers French to English, English otherwise', () => {
    expect(pickLanguage(['fr-FR', 'en-US'])).toBe('fr');
    expect(pickLanguage(['de-DE', 'fr'])).toBe('fr');
    expect(pickLanguage(['en-GB', 'fr-FR'])).toBe('en');
    expect(pickLanguage(['de-DE'])).toBe('en');
    expect(pickLanguage([])).toBe('en');
    expect(pickLanguage(['french'])).toBe('en');
  });
});

describe('times shown in the app', () => {
  it('are the time alone for today and carry the date for another day', () => {
    const now = Date.UTC(2026, 10, 25, 12, 0);
    const today = formatWhen(now, now);
    const earlier = formatWhen(now - 3 * 86_400_000, now);
    expect(today).toBe(new Intl.DateTimeFormat(dateLocale(lang, navigator.languages), { timeStyle: 'medium' }).format(now));
    expect(earlier).toBe(formatDateTime(now - 3 * 86_400_000));
    expect(earlier).not.toBe(formatWhen(now - 3 * 86_400_000, now - 3 * 86_400_000));
  });
});

describe('the locale of dates', () => {
  it('is the browser’s own variant of the app language', () => {
    expect(dateLocale('en', ['en-GB', 'fr-FR'])).toBe('en-GB');
    expect(dateLocale('fr', ['de-DE', 'fr-CA', 'fr-FR'])).toBe('fr-CA');
    expect(dateLocale('en', ['de-DE'])).toBe('en');
    expect(dateLocale('en', ['english'])).toBe('en');
    expect(dateLocale('fr', ['fr-not a tag!'])).toBe('fr');
    expect(new Intl.DateTimeFormat(dateLocale('en', ['en-GB']), { dateStyle: 'short', timeZone: 'UTC' }).format(Date.UTC(2026, 10, 25))).toBe('25/11/2026');
  });
});
