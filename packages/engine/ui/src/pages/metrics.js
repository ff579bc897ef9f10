import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, qs } from '../api.js';
import { Chart } from '../chart.js';
import { ErrorBox } from '../error-box.js';
import { useData } from '../use-data.js';

const AGGS = ['avg', 'min', 'max', 'sum', 'count', 'last', 'p50', 'p90', 'p99'];

/** Pick a series, group by labels, choose step and aggregation; one chart per query. */
export function MetricsPage({ appId }) {
  const base = `/apps/${encodeURIComponent(appId)}/metrics`;
  const list = useData(() => api(base), [appId]);
  const [q, setQ] = useState({ name: '', by: '', step: '', agg: 'avg', since: '15m' });
  const [res, setRes] = useState(undefined);
  const [error, setError] = useState(undefined);
  const names = [...new Set(((list.data && list.data.series) || []).map((s) => s.name))].sort();
  const run = async (e) => {
    e && e.preventDefault();
    if (!q.name) return;
    try {
      setRes(await api(base + qs({ ...q, by: q.by ? q.by.split(',').map((s) => s.trim()) : undefined })));
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  };
  const set = (k) => (e) => setQ({ ...q, [k]: e.currentTarget.value });
  return html`<section>
    <h2>Metrics of <a href="#/apps/${encodeURIComponent(appId)}">${appId}</a></h2>
    ${list.error ? html`<${ErrorBox} error=${list.error} />` : ''}
    <form class="filters" data-testid="metric-query" onSubmit=${run}>
      <label>series <select name="name" value=${q.name} onChange=${set('name')}>${['', ...names].map((n) => html`<option value=${n}>${n || 'pick one'}</option>`)}</select></label>
      <label>by <input name="by" value=${q.by} placeholder="processor,task" onInput=${set('by')} /></label>
      <label>step <input name="step" value=${q.step} placeholder="auto" onInput=${set('step')} /></label>
      <label>agg <select name="agg" value=${q.agg} onChange=${set('agg')}>${AGGS.map((a) => html`<option value=${a}>${a}</option>`)}</select></label>
      <label>since <input name="since" value=${q.since} onInput=${set('since')} /></label>
      <button type="submit" data-testid="run">show</button>
    </form>
    ${error ? html`<${ErrorBox} error=${error} />` : ''}
    ${res ? html`<${Chart} title=${`${q.agg}(${q.name})${q.by ? ` by ${q.by}` : ''}`} series=${res.series} width=${900} height=${300} />` : ''}
  </section>`;
}
