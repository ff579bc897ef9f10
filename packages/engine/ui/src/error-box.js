import { html } from 'htm/preact';

export function ErrorBox({ error }) {
  const status = error && error.status;
  return html`<div class="error" data-testid="error" data-status=${status || ''}>
    <b>${status ? `${status} ${error.code}` : 'error'}</b>: ${String((error && error.message) || error)}
    ${status === 401 ? html` — <a href="#/login">log in</a>` : ''}
  </div>`;
}
