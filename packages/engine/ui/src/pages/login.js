import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { ErrorBox } from '../error-box.js';

export function LoginPage({ onLogin }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(undefined);
  const submit = async (e) => {
    e.preventDefault();
    try {
      const me = await post('/ui/api/login', { token });
      setError(undefined);
      onLogin(me);
    } catch (err) {
      setError(err);
    }
  };
  return html`<section class="login">
    <h2>Log in</h2>
    <form onSubmit=${submit} data-testid="login">
      <label>API token <input type="password" name="token" autocomplete="current-password" value=${token} onInput=${(e) => setToken(e.currentTarget.value)} /></label>
      <button type="submit">log in</button>
    </form>
    ${error ? html`<${ErrorBox} error=${error} />` : ''}
  </section>`;
}
