// The per-processor export without a cluster: aggregation, units, bounded labels, and
// names promtool accepts (promtool itself runs in prometheus-scrape.test.ts).
import { describe, expect, it } from 'vitest';
import { exportedAppSamples, lintExposition } from '../../packages/engine/src/observability/prometheus-app.js';
import type { MetricSample } from '../../packages/engine/src/observability/metrics-registry.js';

const s = (name: string, labels: Record<string, string>, value: number, kind: MetricSample['kind'] = 'gauge'): MetricSample => ({ name, help: name, kind, labels, value });

describe('exportedAppSamples', () => {
  const raw = [
    s('sluice_task_messages_total', { executor: '0', processor: 'split', task: 'split.0' }, 100, 'counter'),
    s('sluice_task_messages_total', { executor: '1', processor: 'split', task: 'split.1' }, 50, 'counter'),
    s('sluice_task_lag_ms', { processor: 'split', task: 'split.0' }, 1500),
    s('sluice_task_lag_ms', { processor: 'split', task: 'split.1' }, 250),
    s('sluice_storage_op_duration_ms', { executor: '0', sub_store: 'checkpoints', op: 'commit', stat: 'p99' }, 12),
    s('sluice_storage_op_duration_ms', { executor: '0', sub_store: 'checkpoints', op: 'commit', stat: 'mean' }, 3),
    s('sluice_storage_retries_total', { executor: '0', sub_store: 'logs', op: 'append' }, 2, 'counter'),
    s('sluice_storage_retries_total', { executor: '1', sub_store: 'logs', op: 'append' }, 3, 'counter'),
  ];

  it('sums counters and takes the worst gauge per processor, in seconds, without task labels', () => {
    const out = exportedAppSamples('a1', raw);
    const get = (name: string) => out.filter((x) => x.name === name);
    expect(get('sluice_processor_messages_total')).toEqual([expect.objectContaining({ labels: { app: 'a1', processor: 'split' }, value: 150, kind: 'counter' })]);
    expect(get('sluice_processor_event_time_lag_seconds')).toEqual([expect.objectContaining({ labels: { app: 'a1', processor: 'split' }, value: 1.5 })]);
    expect(get('sluice_storage_op_duration_seconds')).toEqual([expect.objectContaining({ labels: { app: 'a1', sub_store: 'checkpoints', op: 'commit', stat: 'p99' }, value: 0.012 })]);
    expect(get('sluice_storage_retries_total')).toEqual([expect.objectContaining({ labels: { app: 'a1', sub_store: 'logs', op: 'append' }, value: 5 })]);
    expect(out.every((x) => !('task' in x.labels) && !('executor' in x.labels))).toBe(true);
  });

  it('exports the last checkpoint\'s keyed-state cost in bytes and seconds', () => {
    const cost = [
      s('sluice_app_checkpoint_new_bytes', { executor: 'appmaster' }, 317_440),
      s('sluice_app_checkpoint_shared_bytes', { executor: 'appmaster' }, 45_088_768),
      s('sluice_app_checkpoint_pause_ms', { executor: 'appmaster' }, 0.25),
      s('sluice_app_checkpoint_upload_ms', { executor: 'appmaster' }, 87),
      s('sluice_app_checkpoint_commit_ms', { executor: 'appmaster' }, 4.5),
      s('sluice_app_state_entries', { executor: 'appmaster' }, 2_000_000),
    ];
    const got = Object.fromEntries(exportedAppSamples('a1', cost).map((x) => [x.name, [x.value, x.labels]]));
    expect(got).toEqual({
      sluice_app_checkpoint_new_bytes: [317_440, { app: 'a1' }],
      sluice_app_checkpoint_shared_bytes: [45_088_768, { app: 'a1' }],
      sluice_app_checkpoint_pause_seconds: [0.00025, { app: 'a1' }],
      sluice_app_checkpoint_upload_seconds: [0.087, { app: 'a1' }],
      sluice_app_checkpoint_commit_seconds: [0.0045, { app: 'a1' }],
      sluice_app_state_entries: [2_000_000, { app: 'a1' }],
    });
  });

  it("granularity 'task' keeps one series per task", () => {
    const out = exportedAppSamples('a1', raw, 'task').filter((x) => x.name === 'sluice_processor_messages_total');
    expect(out.map((x) => x.labels.task).sort()).toEqual(['split.0', 'split.1']);
  });
});

describe('lintExposition', () => {
  it('drops gauge families named _total and keeps everything else', () => {
    const text = ['# HELP x_total a', '# TYPE x_total gauge', 'x_total 3', '# HELP x a', '# TYPE x gauge', 'x{type="t"} 3', '# HELP c_total c', '# TYPE c_total counter', 'c_total 1', ''].join('\n');
    expect(lintExposition(text)).toBe(['# HELP x a', '# TYPE x gauge', 'x{type="t"} 3', '# HELP c_total c', '# TYPE c_total counter', 'c_total 1', ''].join('\n'));
  });
});
