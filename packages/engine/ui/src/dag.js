import { html } from 'htm/preact';
import dagre from 'dagre';

/** Node colours by state; the legend under the graph repeats them. */
export const STATE_COLORS = { ok: '#16a34a', backpressured: '#d97706', failing: '#dc2626', restarting: '#9333ea', stopped: '#6b7280' };
/** Event-time lag beyond this marks a processor back-pressured. */
const BACKPRESSURE_LAG_MS = 10_000;

/**
 * The app's DAG laid out by dagre, drawn as SVG: node size ~ throughput, edge width ~ rate
 * (the upstream processor's), colour for state.
 */
export function DagView({ dag, processors, appState }) {
  const rates = new Map((processors || []).map((p) => [p.name, p]));
  const maxRate = Math.max(1, ...[...rates.values()].map((p) => p.rate));
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 30, ranksep: 70, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const p of dag.processors) {
    const r = rates.get(p.name)?.rate ?? 0;
    const k = Math.sqrt(r / maxRate);
    g.setNode(p.name, { width: 110 + 70 * k, height: 44 + 26 * k, proc: p });
  }
  dag.edges.forEach((e, i) => g.setEdge(e.from, e.to, { label: e.label || '', width: 40, height: 14, i }, `e${i}`));
  dagre.layout(g);
  const gr = g.graph();
  const state = (name) => {
    if (appState === 'killed' || appState === 'stopped') return 'stopped';
    if (appState === 'failed') return 'failing';
    if (appState === 'restarting') return 'restarting';
    const p = rates.get(name);
    return p && p.lagMs !== undefined && p.lagMs > BACKPRESSURE_LAG_MS ? 'backpressured' : 'ok';
  };
  return html`<div class="dag">
    <svg data-testid="dag" width=${Math.ceil(gr.width || 100)} height=${Math.ceil(gr.height || 60)} role="img" aria-label="DAG of ${dag.name}">
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#64748b" /></marker></defs>
      ${g.edges().map((ed) => {
        const e = g.edge(ed);
        const rate = rates.get(ed.v)?.rate ?? 0;
        const w = 1 + 7 * Math.sqrt(rate / maxRate);
        const d = e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
        return html`<g data-testid="dag-edge" data-from=${ed.v} data-to=${ed.w}>
          <path d=${d} fill="none" stroke="#64748b" stroke-width=${w.toFixed(1)} marker-end="url(#arrow)"><title>${ed.v} → ${ed.w}: ${rate.toFixed(1)}/s</title></path>
          <text data-testid="dag-edge-label" x=${e.x} y=${e.y} text-anchor="middle" class="edge-label">${e.label}</text>
        </g>`;
      })}
      ${g.nodes().map((n) => {
        const v = g.node(n);
        const p = rates.get(n);
        const st = state(n);
        return html`<g data-testid="dag-node" data-name=${n} data-state=${st} transform="translate(${(v.x - v.width / 2).toFixed(1)},${(v.y - v.height / 2).toFixed(1)})">
          <rect width=${v.width} height=${v.height} rx="6" fill="#fff" stroke=${STATE_COLORS[st]} stroke-width="3" />
          <text x=${v.width / 2} y="18" text-anchor="middle" class="node-name">${n} ×${v.proc.parallelism}</text>
          <text x=${v.width / 2} y="34" text-anchor="middle" class="node-rate">${p ? `${p.rate.toFixed(1)}/s` : v.proc.kind}</text>
        </g>`;
      })}
    </svg>
    <div class="legend">${Object.entries(STATE_COLORS).map(([k, c]) => html`<span><i style="background:${c}"></i>${k}</span>`)}</div>
  </div>`;
}
