import { html } from 'htm/preact';
import { api, fmtAge, fmtTime } from '../api.js';
import { useData } from '../use-data.js';
import { ErrorBox } from '../error-box.js';

export function ClusterPage() {
  const { data, error } = useData(() => api('/ui/api/cluster'), [], 3000);
  if (error && !data) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<p>loading…</p>`;
  const h = data.health || {};
  return html`<section>
    <h2>Cluster</h2>
    <table class="kv" data-testid="cluster-health">
      <tr><th>master</th><td>${h.address || '—'}</td></tr>
      <tr><th>role</th><td>${h.role || 'single master'}${h.leader ? html` (leader ${h.leader})` : ''}</td></tr>
      ${h.masters ? html`<tr><th>masters (${h.masters.length})</th><td data-testid="masters">${h.masters.map((m, i) => html`${i > 0 ? ', ' : ''}<span class=${m === h.leader ? 'leader' : ''}>${m}${m === h.leader ? ' (leader)' : ''}</span>`)}</td></tr>` : ''}
      <tr><th>started</th><td>${fmtTime(h.startedAt)}</td></tr>
      <tr><th>version</th><td>${h.version || '—'}</td></tr>
      <tr><th>apps</th><td>${h.apps ?? '—'}</td></tr>
    </table>
    <h3>Workers (${data.workers.length})</h3>
    <table data-testid="workers">
      <thead><tr><th>worker</th><th>host</th><th>slots used</th><th>executors</th><th>last heartbeat</th></tr></thead>
      <tbody>${data.workers.map((w) => html`<tr>
        <td>${w.id}</td><td>${w.host}</td><td>${(w.executors || []).length} / ${w.slots}</td>
        <td>${(w.executors || []).map((e) => `${e.appId}#${e.role === 'appmaster' ? 'am' : e.executor}`).join(' ')}</td>
        <td>${fmtAge(w.lastSeen)} ago</td></tr>`)}</tbody>
    </table>
  </section>`;
}
