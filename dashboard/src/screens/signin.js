import { useState } from 'preact/hooks';
import { api, session } from '../api.js';
import { html, Problem } from '../ui.js';

/** Asks for a merchant API key (or the operator key) and checks it with one read. */
export function SignIn({ onSignedIn }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const key = new FormData(e.currentTarget).get('key').trim();
    e.currentTarget.reset();
    if (key === '') return setError(new Error('Enter an API key.'));
    setBusy(true);
    session.signIn(key);
    try {
      onSignedIn(await api.merchants());
    } catch (err) {
      session.signOut();
      setError(err.status === 401 ? new Error('That key was refused.') : err);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin">
    <h1>Idem dashboard</h1>
    <form onSubmit=${submit} autocomplete="off">
      <label for="key">API key</label>
      <input id="key" name="key" type="password" required autocomplete="off" spellcheck="false" />
      <p class="hint">A merchant's API key, or the operator key (reads every merchant, moves no money). It stays in this tab only (session storage).</p>
      <button type="submit" disabled=${busy}>Sign in</button>
      <${Problem} error=${error} />
    </form>
  </main>`;
}
