import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, fmtBytes, fmtNum, fmtTime, post, qs } from '../api.js';
import { Chart } from '../chart.js';
import { DagView } from '../dag.js';
import { ErrorBox } from '../error-box.js';
import { useData } from '../use-data.js';

const REFRESH_MS = 3000;

export function AppPage({ appId }) {
  const [tick, setTick] = useState(0);
  const [actionError, setActionError] = useState(undefined);
  const [rescaleText, setRescaleText] = useState('');
  const [rescaling, setRescaling] = useState(false);
  const { data, error } = useData(() => api(`/ui/api/apps/${encodeURIComponent(appId)}`), [appId, tick], REFRESH_MS);
  const charts = useData(
    () => Promise.all([
      api(`/apps/${encodeURIComponent(appId)}/metrics${qs({ name: 'sluice_task_lag_ms', by: 'processor', agg: 'max', since: '15m' })}`),
      api(`/apps/${encodeURIComponent(appId)}/metrics${qs({ name: 'sluice_app_min_clock', agg: 'last', since: '15m' })}`),
    ]),
    [appId, tick],
    REFRESH_MS,
  );
  if (error && !data) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<p>loading…</p>`;
  const app = data.app || {};
  const ov = data.overview || { tasks: [], processors: [], checkpoints: [], storage: [] };
  const status = app.status || 'unknown';
  const kill = async () => {
    if (!window.confirm(`Kill ${appId}?`)) return;
    try {
      await post(`/ui/api/apps/${encodeURIComponent(appId)}/kill`);
      setActionError(undefined);
    } catch (e) {
      setActionError(e);
    }
    setTick((t) => t + 1);
  };
  // `proc=N,proc=M`, as `sluice rescale --parallelism`; the master checks the names.
  const rescale = async (e) => {
    e.preventDefault();
    const parallelism = {};
    for (const item of rescaleText.split(',').map((x) => x.trim()).filter(Boolean)) {
      const m = /^([^=]+)=(\d+)$/.exec(item);
      if (!m) return setActionError(new Error(`"${item}" is not <processor>=<n>`));
      parallelism[m[1].trim()] = Number(m[2]);
    }
    if (Object.keys(parallelism).length === 0) return setActionError(new Error('give <processor>=<n>[,<processor>=<n>]'));
    if (!window.confirm(`Stop ${appId} at a savepoint and restart it at ${rescaleText}?`)) return;
    setRescaling(true);
    try {
      await post(`/ui/api/apps/${encodeURIComponent(appId)}/rescale`, { parallelism });
      setActionError(undefined);
      setRescaleText('');
    } catch (err) {
      setActionError(err);
    }
    setRescaling(false);
    setTick((t) => t + 1);
  };
  const versions = app.versions;
  const [lag, clock] = charts.data || [{ series: [] }, { series: [] }];
  const minClock = clock.series.map((s) => ({ ...s, points: s.points.filter((p) => p.value > 0).map((p) => ({ ts: p.ts, value: p.value / 1000 })) }));
  const failure = app.lastFailure;
  return html`<section>
    <h2>${appId} <span class="status ${status}" data-testid="app-state">${status}</span></h2>
    <p>owner ${app.owner || '—'} · epoch ${app.epoch ?? '—'} · restarts ${app.restarts ?? (app.appMaster && app.appMaster.restarts) ?? 0}
      ${app.nextAttemptAt ? html` · next attempt ${fmtTime(app.nextAttemptAt)}` : ''}
      · <a href="#/logs/${encodeURIComponent(appId)}">logs</a> · <a href="#/metrics/${encodeURIComponent(appId)}">metrics</a>
      ${versions ? html` · <span data-testid="app-version">version ${versions.current}${versions.previous ? ` (previous ${versions.previous.version})` : ''}</span>` : ''}
      ${data.canWrite && status === 'running' ? html` · <button data-testid="kill" class="danger" onClick=${kill}>kill</button>` : ''}</p>
    ${data.canWrite && status === 'running' ? html`<form data-testid="rescale-form" onSubmit=${rescale}>
      <input name="parallelism" data-testid="rescale-input" placeholder=${ov.processors.map((p) => `${p.name}=${p.tasks}`).join(',') || 'count=4'} value=${rescaleText} onInput=${(e) => setRescaleText(e.target.value)} />
      <button type="submit" data-testid="rescale" disabled=${rescaling}>${rescaling ? 'rescaling…' : 'rescale'}</button>
    </form>` : ''}
    ${actionError ? html`<${ErrorBox} error=${actionError} />` : ''}
    ${failure || app.error ? html`<p class="error" data-testid="restarts">last failure: ${failure ? `${failure.reason} at ${fmtTime(failure.at)} (epoch ${failure.epoch})` : app.error}</p>` : ''}
    <h3>DAG</h3>
    ${ov.dag ? html`<${DagView} dag=${ov.dag} processors=${ov.processors} appState=${status} />` : html`<p data-testid="no-dag">${ov.dagError || 'no DAG description stored for this app'}</p>`}
    <h3>Processors and tasks</h3>
    <table data-testid="tasks">
      <thead><tr><th>processor</th><th>task</th><th>messages</th><th>rate /s</th><th>skew</th><th>event-time lag</th></tr></thead>
      <tbody>${ov.processors.map((p) => [
        html`<tr class="proc"><td>${p.name}</td><td>${p.tasks} tasks</td><td>${fmtNum(p.messages, 0)}</td><td>${fmtNum(p.rate)}</td><td>${fmtNum(p.skew, 2)}</td><td>${p.lagMs === undefined ? '—' : `${fmtNum(p.lagMs / 1000)} s`}</td></tr>`,
        ...ov.tasks.filter((t) => t.processor === p.name).map((t) => html`<tr><td></td><td>${t.task}</td><td>${fmtNum(t.messages, 0)}</td><td>${fmtNum(t.rate)}</td><td></td><td>${t.lagMs === undefined ? '—' : `${fmtNum(t.lagMs / 1000)} s`}</td></tr>`),
      ])}</tbody>
    </table>
    <h3>Clock and lag (15 min)</h3>
    <div class="charts">
      <${Chart} title="event-time lag by processor (ms)" series=${lag.series} unit="ms" />
      <${Chart} title="app min clock (event time, UTC)" series=${minClock} unit="event time" timeValues=${true} />
    </div>
    <h3>Checkpoints</h3>
    <table data-testid="checkpoints">
      <thead><tr><th>t (event time)</th><th>committed</th><th>commit delay</th><th>epoch</th><th>parts</th><th>size</th><th>new</th><th>shared</th><th>pause</th><th>upload</th></tr></thead>
      <tbody>${ov.checkpoints.map((c) => html`<tr><td>${fmtTime(c.t)}</td><td>${fmtTime(c.committedAt)}</td><td>${fmtNum((c.committedAt - c.t) / 1000)} s</td><td>${c.epoch}</td><td>${c.parts}</td><td>${fmtBytes(c.bytes)}</td><td>${c.newBytes === undefined ? '' : fmtBytes(c.newBytes)}</td><td>${c.sharedBytes === undefined ? '' : fmtBytes(c.sharedBytes)}</td><td>${c.pauseMs === undefined ? '' : `${fmtNum(c.pauseMs)} ms`}</td><td>${c.uploadMs === undefined ? '' : `${fmtNum(c.uploadMs)} ms`}</td></tr>`)}</tbody>
    </table>
    <h3>Storage</h3>
    <table data-testid="storage">
      <thead><tr><th>sub-store</th><th>backend</th><th>ops</th><th>p50 ms</th><th>p99 ms</th><th>retries</th><th>errors</th></tr></thead>
      <tbody>${ov.storage.map((s) => html`<tr><td>${s.subStore}</td><td>${s.route || '—'}</td><td>${fmtNum(s.ops, 0)}</td><td>${fmtNum(s.p50Ms, 2)}</td><td>${fmtNum(s.p99Ms, 2)}</td><td class=${s.retries ? 'warn' : ''}>${s.retries}</td><td class=${s.errors ? 'warn' : ''}>${s.errors}</td></tr>`)}</tbody>
    </table>
  </section>`;
}
