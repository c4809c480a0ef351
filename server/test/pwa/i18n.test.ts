import { describe, expect, it } from 'vitest';
import { pickLanguage } from '../../../client/src/i18n.ts';

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
