import type { LogLevel, LogRecord, MetricSeries, SeriesInfo } from '@sluice/storage-api';
import { SID_FIELD } from './log-appender.js';

const LEVEL_COLOR: Record<LogLevel, string> = { trace: '90', debug: '36', info: '32', warn: '33', error: '31', fatal: '35' };
const c = (on: boolean, code: string, s: string): string => (on ? `\u001b[${code}m${s}\u001b[0m` : s);

function time(ts: number): string {
  return new Date(ts).toISOString().replace('T', ' ').replace('Z', '');
}

function labelText(l: Record<string, string>): string {
  const where = [l.processor, l.task && `#${l.task}`].filter(Boolean).join('');
  const exec = l.executor ? `@${l.executor}` : '';
  return where || exec ? `[${where}${exec}]` : '';
}

/** One human line: time, level (coloured on a TTY), processor#task@executor, msg, fields. */
export function formatLogLine(r: LogRecord, options: { color?: boolean } = {}): string {
  const color = options.color === true;
  const lvl = c(color, LEVEL_COLOR[r.level] ?? '0', r.level.toUpperCase().padEnd(5));
  const parts = [c(color, '90', time(r.ts)), lvl];
  const lt = labelText(r.labels);
  if (lt) parts.push(c(color, '34', lt));
  parts.push(r.msg);
  const extra = Object.entries(r.fields ?? {}).filter(([k]) => k !== SID_FIELD);
  if (extra.length) parts.push(c(color, '90', extra.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')));
  return parts.join(' ');
}

const SPARKS = '▁▂▃▄▅▆▇█';

/** A one-line chart of the values (empty buckets shown as spaces are already omitted). */
export function sparkline(values: number[]): string {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return '';
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  return values.map((v) => (Number.isFinite(v) ? SPARKS[max === min ? 3 : Math.round(((v - min) / (max - min)) * (SPARKS.length - 1))] : ' ')).join('');
}

export function formatLabels(l: Record<string, string>): string {
  const e = Object.entries(l);
  return e.length ? `{${e.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}` : '{}';
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(3) : v.toPrecision(3);
}

/** Aligned columns; the first row is the header. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function formatSeriesList(list: SeriesInfo[]): string {
  const sorted = [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : formatLabels(a.labels) < formatLabels(b.labels) ? -1 : 1));
  return table([['NAME', 'KIND', 'LABELS'], ...sorted.map((s) => [s.name, s.kind, formatLabels(s.labels)])]);
}

/** Query result as a table: one row per bucket, one column per series. */
export function formatSeriesTable(series: MetricSeries[]): string {
  if (!series.length) return 'no data\n';
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p.ts)))].sort((a, b) => a - b);
  const maps = series.map((s) => new Map(s.points.map((p) => [p.ts, p.value])));
  const legend = series.map((s, i) => `[${i + 1}] ${s.name}${formatLabels(s.labels)}`).join('\n');
  const rows = [['TIME', ...series.map((_, i) => `[${i + 1}]`)], ...times.map((t) => [time(t), ...maps.map((m) => (m.has(t) ? formatNumber(m.get(t)!) : '-'))])];
  return `${legend}\n${table(rows)}`;
}

/** Query result as sparklines with min/max/last, for a terminal. */
export function formatSeriesChart(series: MetricSeries[], options: { color?: boolean } = {}): string {
  if (!series.length) return 'no data\n';
  return (
    series
      .map((s) => {
        const vals = s.points.map((p) => p.value);
        const stats = vals.length ? `min ${formatNumber(Math.min(...vals))}  max ${formatNumber(Math.max(...vals))}  last ${formatNumber(vals[vals.length - 1]!)}` : 'no points';
        return `${c(options.color === true, '1', s.name + formatLabels(s.labels))}\n  ${c(options.color === true, '32', sparkline(vals))}  ${stats}`;
      })
      .join('\n') + '\n'
  );
}
