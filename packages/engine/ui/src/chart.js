import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/**
 * A uPlot time chart of MetricSeries[] ({labels, points:[{ts,value}]}) aligned on the
 * union of their timestamps. data-points tells tests (and people) how much it holds.
 */
export function Chart({ series, title, width = 640, height = 200, unit = '', timeValues = false }) {
  const ref = useRef(null);
  const ts = [...new Set(series.flatMap((s) => s.points.map((p) => p.ts)))].sort((a, b) => a - b);
  const points = series.reduce((n, s) => n + s.points.length, 0);
  useEffect(() => {
    if (!ref.current || ts.length === 0) return undefined;
    const idx = new Map(ts.map((t, i) => [t, i]));
    const data = [ts.map((t) => t / 1000)];
    for (const s of series) {
      const col = new Array(ts.length).fill(null);
      for (const p of s.points) col[idx.get(p.ts)] = p.value;
      data.push(col);
    }
    const colors = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#be185d', '#4b5563'];
    const opts = {
      title, width, height,
      series: [{}, ...series.map((s, i) => ({ label: labelOf(s.labels) || s.name, stroke: colors[i % colors.length], width: 1.5, spanGaps: true }))],
      // One timestamp alone: uPlot widens a time scale by 86400 / ms (1000 days with second
      // timestamps) before our range sees it, so decide from the data: a minute either side.
      scales: {
        x: { time: true, range: (_u, min, max) => (ts.length === 1 ? [ts[0] / 1000 - 60, ts[0] / 1000 + 60] : [min, max]) },
        // A clock that stands still would otherwise be padded by hours: a minute either side.
        ...(timeValues ? { y: { range: (_u, min, max) => (max - min < 1000 ? [min - 60_000, max + 60_000] : [min, max]) } } : {}),
      },
      // Values of a time series (e.g. the min clock) are epoch milliseconds.
      axes: [{}, { label: unit, size: 70, ...(timeValues ? { values: (_u, vals) => vals.map((v) => new Date(v).toISOString().slice(11, 19)) } : {}) }],
    };
    const plot = new uPlot(opts, data, ref.current);
    return () => plot.destroy();
  }, [JSON.stringify(series), width, height]);
  if (ts.length === 0) return html`<div class="chart empty" data-testid="chart" data-points="0"><b>${title}</b><p>no data in this window</p></div>`;
  return html`<div class="chart" data-testid="chart" data-points=${points} ref=${ref}></div>`;
}

export function labelOf(labels) {
  return Object.entries(labels || {}).filter(([k]) => k !== 'app').map(([k, v]) => `${k}=${v}`).join(',');
}
