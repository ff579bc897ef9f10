import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, fmtAge, fmtTime } from '../api.js';
import { useData } from '../use-data.js';
import { ErrorBox } from '../error-box.js';

const STATUSES = ['', 'running', 'stopped', 'killed', 'failed'];

export function AppsPage() {
  const [status, setStatus] = useState('');
  const { data, error } = useData(() => api('/ui/api/apps'), [], 3000);
  if (error && !data) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<p>loading…</p>`;
  const apps = data.apps.filter((a) => !status || a.status === status);
  return html`<section>
    <h2>Apps</h2>
    <label>status <select data-testid="status-filter" value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
      ${STATUSES.map((s) => html`<option value=${s}>${s || 'all'}</option>`)}
    </select></label>
    <table data-testid="apps">
      <thead><tr><th>app</th><th>status</th><th>owner</th><th>epoch</th><th>restarts</th><th>last failure</th><th>age</th><th></th></tr></thead>
      <tbody>${apps.map((a) => html`<tr data-testid="app-row" data-app=${a.appId}>
        <td><a href="#/apps/${encodeURIComponent(a.appId)}">${a.appId}</a></td>
        <td><span class="status ${a.status}" data-testid="app-status">${a.status}</span></td>
        <td>${a.owner || '—'}</td><td>${a.epoch}</td>
        <td>${a.restarts ?? (a.appMaster && a.appMaster.restarts) ?? 0}</td>
        <td>${a.lastFailure ? `${a.lastFailure.reason} (${fmtTime(a.lastFailure.at)})` : a.error || '—'}</td>
        <td>${a.createdAt ? fmtAge(a.createdAt) : '—'}</td>
        <td><a href="#/logs/${encodeURIComponent(a.appId)}">logs</a> · <a href="#/metrics/${encodeURIComponent(a.appId)}">metrics</a></td>
      </tr>`)}</tbody>
    </table>
    ${apps.length === 0 ? html`<p>no apps${status ? ` with status ${status}` : ''}</p>` : ''}
  </section>`;
}
