import type { Task, TaskFactory } from '../dsl/task.js';

/** Logs a summary of each batch (at-least-once: for debugging, not for results). */
export function logSink(options: { sample?: number } = {}): TaskFactory {
  const sample = options.sample ?? 3;
  return (): Task => ({
    onNext(values, ts, ctx) {
      ctx.logger.info({ ts, count: values.length, sample: values.slice(0, sample) }, 'batch');
    },
  });
}
