import type { MetricSample } from './metrics-registry.js';

/** Label granularity of the per-processor families; 'task' multiplies series by parallelism. */
export type PromGranularity = 'processor' | 'task';

/** Histogram stats stored by the reporter that are exported (the rest would only add series). */
const EXPORTED_STATS = new Set(['p50', 'p99', 'max']);

const CHECKPOINT_TIMES: Record<string, string> = {
  sluice_app_checkpoint_pause_ms: 'Longest task pause to freeze keyed state at the last committed checkpoint',
  sluice_app_checkpoint_upload_ms: 'Encode and upload time of the last committed checkpoint, slowest executor',
  sluice_app_checkpoint_commit_ms: 'First part staged to commit of the last committed checkpoint',
};

interface Acc {
  name: string;
  help: string;
  kind: 'counter' | 'gauge';
  labels: Record<string, string>;
  value: number;
}

/**
 * Turns the raw per-task/per-executor samples of one app (storedSamples()) into the
 * families Prometheus gets, in base units and with bounded labels: per processor (not per
 * task, unless asked), per sub-store and op for storage. Counters are summed, gauges take
 * the maximum (the worst task is what an alert wants).
 */
export function exportedAppSamples(appId: string, samples: MetricSample[], granularity: PromGranularity = 'processor'): MetricSample[] {
  const acc = new Map<string, Acc>();
  const add = (name: string, help: string, kind: 'counter' | 'gauge', labels: Record<string, string>, value: number): void => {
    if (!Number.isFinite(value)) return;
    const l = { app: appId, ...labels };
    const key = name + '\u0001' + JSON.stringify(Object.entries(l).sort());
    const cur = acc.get(key);
    if (!cur) acc.set(key, { name, help, kind, labels: l, value });
    else cur.value = kind === 'counter' ? cur.value + value : Math.max(cur.value, value);
  };
  const unit = (s: MetricSample): Record<string, string> => {
    const processor = s.labels.processor ?? '';
    return granularity === 'task' && s.labels.task ? { processor, task: s.labels.task } : { processor };
  };
  for (const s of samples) {
    const v = s.value;
    switch (s.name) {
      case 'sluice_task_messages_total':
        add('sluice_processor_messages_total', 'Messages read (sources) or received (tasks) by the processor', 'counter', unit(s), v);
        break;
      case 'sluice_task_lag_ms':
        add('sluice_processor_event_time_lag_seconds', 'Wall clock minus the input clock of the processor\'s slowest task', 'gauge', unit(s), v / 1000);
        break;
      case 'sluice_task_clock':
        // The app's min clock over processors is min(); export per processor and let PromQL take it.
        add('sluice_processor_clock_seconds', 'Input clock (event time) of the processor\'s slowest task', 'gauge', unit(s), -v / 1000);
        break;
      case 'sluice_task_checkpoint_duration_ms':
        if (s.labels.stat && EXPORTED_STATS.has(s.labels.stat)) {
          add('sluice_processor_checkpoint_duration_seconds', 'Time to persist task state over the last report window (stat: p50, p99, max)', 'gauge', { ...unit(s), stat: s.labels.stat }, v / 1000);
        }
        break;
      case 'sluice_storage_op_duration_ms':
        if (s.labels.stat && EXPORTED_STATS.has(s.labels.stat)) {
          add('sluice_storage_op_duration_seconds', 'Storage operation latency over the last report window (stat: p50, p99, max)', 'gauge', { sub_store: s.labels.sub_store ?? '', op: s.labels.op ?? '', stat: s.labels.stat }, v / 1000);
        }
        break;
      case 'sluice_storage_retries_total':
        add('sluice_storage_retries_total', 'Storage operations retried', 'counter', { sub_store: s.labels.sub_store ?? '', op: s.labels.op ?? '' }, v);
        break;
      case 'sluice_storage_op_errors_total':
        add('sluice_storage_op_errors_total', 'Failed storage operations', 'counter', { sub_store: s.labels.sub_store ?? '', op: s.labels.op ?? '', code: s.labels.code ?? '' }, v);
        break;
      case 'sluice_app_min_clock':
        if (v > 0) add('sluice_app_min_clock_seconds', 'App min clock (event time)', 'gauge', {}, v / 1000);
        break;
      case 'sluice_app_checkpoints_committed_total':
        add('sluice_app_checkpoints_committed_total', 'Checkpoints committed in the current epoch', 'counter', {}, v);
        break;
      case 'sluice_app_checkpoint_new_bytes':
        add(s.name, 'Bytes uploaded by the last committed checkpoint', 'gauge', {}, v);
        break;
      case 'sluice_app_checkpoint_shared_bytes':
        add(s.name, 'Bytes of earlier parts the last committed checkpoint lists again (by reference)', 'gauge', {}, v);
        break;
      case 'sluice_app_state_entries':
        add(s.name, 'Live keyed-state entries at the last committed checkpoint', 'gauge', {}, v);
        break;
      case 'sluice_app_checkpoint_pause_ms':
      case 'sluice_app_checkpoint_upload_ms':
      case 'sluice_app_checkpoint_commit_ms': {
        const what = CHECKPOINT_TIMES[s.name];
        add(s.name.replace(/_ms$/, '_seconds'), what, 'gauge', {}, v / 1000);
        break;
      }
      default:
        break;
    }
  }
  const out: MetricSample[] = [];
  for (const a of acc.values()) {
    // Clocks were negated so max() above picked the slowest (smallest) task.
    const value = a.name === 'sluice_processor_clock_seconds' ? -a.value : a.value;
    out.push({ name: a.name, help: a.help, kind: a.kind, labels: a.labels, value });
  }
  return out;
}

/**
 * promtool rejects non-counters named `…_total`: prom-client's
 * nodejs_active_{handles,requests,resources}_total gauges. Each is the sum of the family
 * of the same name without the suffix (labelled by type), and renaming would collide
 * with it, so such gauge families are dropped.
 */
export function lintExposition(text: string): string {
  const bad = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (gauge|untyped)$/gm)) if (m[1]!.endsWith('_total')) bad.add(m[1]!);
  if (bad.size === 0) return text;
  return text
    .split('\n')
    .filter((line) => {
      const m = /^(?:# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
      return !m || !bad.has(m[1]!);
    })
    .join('\n');
}
