import type { PlannedTask } from './plan.js';

/**
 * An exception thrown by app code (a task's onNext/onClock/restore/..., a source's
 * open/read), labelled with where it happened so it reaches the logs and the app's
 * status with its processor and task.
 */
export class TaskFailure extends Error {
  constructor(readonly processor: string, readonly task: string, readonly hook: string, cause: unknown) {
    super(`${hook} threw: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    if (cause instanceof Error && cause.stack) this.stack = `TaskFailure: ${this.message}\n    in ${hook} of task ${task}\n${cause.stack}`;
  }
  override get name(): string {
    return 'TaskFailure';
  }
}

export function inTask<T>(meta: PlannedTask, hook: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw err instanceof TaskFailure ? err : new TaskFailure(meta.processor, meta.name, hook, err);
  }
}

export async function inTaskAsync<T>(meta: PlannedTask, hook: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof TaskFailure ? err : new TaskFailure(meta.processor, meta.name, hook, err);
  }
}
