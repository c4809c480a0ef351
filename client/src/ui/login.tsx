import { useState } from 'preact/hooks';
import { ApiError, api } from '../api.ts';
import { t } from '../i18n.ts';
import { saveSession, type Session } from '../session.ts';

export function Login(props: { onSignedIn: (s: Session) => void; notice?: string }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(props.notice ?? '');

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const r = await api<{ user_id: string; access_token: string; device_id: string }>(
        'POST',
        '/_matrix/client/v3/login',
        { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.trim() }, password, initial_device_display_name: 'Tocsin PWA' },
        { token: null },
      );
      const s = { userId: r.user_id, token: r.access_token, deviceId: r.device_id };
      saveSession(s);
      props.onSignedIn(s);
    } catch (err) {
      setError(err instanceof ApiError ? (err.status === 403 || err.status === 400 ? t.badLogin : err.message) : t.networkError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <img src="/icons/icon.svg" alt="" width={64} height={64} />
      <h1>{t.appName}</h1>
      <form onSubmit={submit} aria-describedby={error ? 'login-error' : undefined}>
        <h2>{t.signIn}</h2>
        <label for="user">{t.username}</label>
        <input id="user" name="username" autocomplete="username" autocapitalize="none" spellcheck={false} required value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        <label for="password">{t.password}</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        {error && (
          <p id="login-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t.signingIn : t.signInButton}
        </button>
      </form>
    </main>
  );
}
