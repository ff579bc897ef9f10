import type { Labels, MetricsRegistry } from '../observability/metrics-registry.js';
import { isWindowTask } from '../state/window-task.js';
import type { TaskRunner } from './task-runner.js';

/** Watermark values as gauges: none yet reads 0, the end of input (+Infinity) the largest date (8.64e15 ms). */
const MAX_DATE_MS = 8.64e15;
const asGauge = (w: number): number => (w === -Infinity ? 0 : w === Infinity ? MAX_DATE_MS : w);

/**
 * Event-time metrics of one task: its watermark, how far it trails the wall clock, and
 * for window tasks the records later than the allowed lateness and the windows open.
 */
export function registerEventTimeMetrics(registry: MetricsRegistry, runner: TaskRunner, labels: Labels): void {
  registry.gaugeFn('sluice_task_watermark_ms', 'Event-time watermark of the task (ms; 0 before the first)', labels, () => asGauge(runner.watermarks.watermark));
  registry.gaugeFn('sluice_task_watermark_lag_ms', 'Wall clock minus the task watermark (ms; 0 when it has none or at the end of input)', labels, () => {
    const w = runner.watermarks.watermark;
    return Number.isFinite(w) ? Math.max(0, Date.now() - w) : 0;
  });
  const t = runner.task;
  if (!isWindowTask(t)) return;
  registry.counterFn('sluice_late_records_total', 'Records later than the allowed lateness (sent to the late output, or counted only)', labels, () => t.windowStats.lateRecords);
  registry.gaugeFn('sluice_windows_open', 'Windows open in the task (all keys)', labels, () => t.windowStats.openWindows());
}
