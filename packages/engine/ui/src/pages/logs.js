import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, fmtTime, follow, qs } from '../api.js';
import { ErrorBox } from '../error-box.js';

const FIELDS = ['since', 'until', 'level', 'grep', 'processor', 'task', 'executor'];
const PAGE = 200;
/** Lines kept on screen while following; older ones scroll away. */
const MAX_LINES = 5000;

/** The filters of `sluice logs`, paging backwards in time, and live follow (NDJSON stream). */
export function LogsPage({ appId }) {
  const [form, setForm] = useState({ since: '', until: '', level: '', grep: '', processor: '', task: '', executor: '' });
  const [applied, setApplied] = useState(form);
  const [records, setRecords] = useState([]);
  const [error, setError] = useState(undefined);
  const [following, setFollowing] = useState(false);
  const ac = useRef(undefined);
  const base = `/apps/${encodeURIComponent(appId)}/logs`;
  const load = async (f, extra = {}) => {
    try {
      const r = await api(base + qs({ ...f, limit: PAGE, ...extra }));
      setError(undefined);
      return r.records;
    } catch (e) {
      setError(e);
      return undefined;
    }
  };
  useEffect(() => {
    void load(applied).then((r) => r && setRecords(r));
  }, [appId, applied]);
  useEffect(() => () => ac.current && ac.current.abort(), []);
  const older = async () => {
    const first = records[0];
    if (!first) return;
    const r = await load({ ...applied, since: '' }, { until: String(first.ts) });
    if (r) setRecords([...r, ...records]);
  };
  const toggleFollow = () => {
    if (following) {
      ac.current && ac.current.abort();
      setFollowing(false);
      return;
    }
    const c = new AbortController();
    ac.current = c;
    setFollowing(true);
    const { until, ...f } = applied;
    const last = records[records.length - 1];
    // Start after what is shown; the server skips nothing newer than this.
    const since = last ? String(last.ts + 1) : f.since || '1m';
    follow(base + qs({ ...f, since, follow: 1 }), c.signal, (rec) => {
      if (rec.error) return setError(rec.error);
      setRecords((rs) => [...rs, rec].slice(-MAX_LINES));
    }).catch((e) => !c.signal.aborted && setError(e)).finally(() => setFollowing(false));
  };
  const submit = (e) => {
    e.preventDefault();
    if (ac.current) ac.current.abort();
    setApplied({ ...form });
  };
  return html`<section>
    <h2>Logs of <a href="#/apps/${encodeURIComponent(appId)}">${appId}</a></h2>
    <form class="filters" data-testid="log-filters" onSubmit=${submit}>
      ${FIELDS.map((k) => html`<label>${k}${k === 'level'
        ? html`<select name=${k} value=${form[k]} onChange=${(e) => setForm({ ...form, [k]: e.currentTarget.value })}>${['', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => html`<option value=${l}>${l || 'any'}</option>`)}</select>`
        : html`<input name=${k} value=${form[k]} placeholder=${k === 'since' || k === 'until' ? '10m / ISO / ms' : ''} onInput=${(e) => setForm({ ...form, [k]: e.currentTarget.value })} />`}</label>`)}
      <button type="submit" data-testid="apply">apply</button>
      <button type="button" data-testid="follow" onClick=${toggleFollow}>${following ? 'stop following' : 'follow'}</button>
      <button type="button" data-testid="older" onClick=${older}>older</button>
    </form>
    ${error ? html`<${ErrorBox} error=${error} />` : ''}
    <p data-testid="log-count">${records.length} lines${following ? ' · following' : ''}</p>
    <pre class="logs" data-testid="logs">${records.map((r) => html`<div class="line ${r.level}" data-testid="log-line">${fmtTime(r.ts)} ${r.level.toUpperCase().padEnd(5)} [${['executor', 'processor', 'task'].map((k) => r.labels[k]).filter(Boolean).join(' ')}] ${r.msg}</div>`)}</pre>
  </section>`;
}
