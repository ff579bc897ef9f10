import { EngineError } from '../errors.js';
import type { SourceFactory, SourceTask, TaskContext } from '../dsl/task.js';
import { parseNexmarkOptions, type NexmarkOptions } from './config.js';
import { NexmarkGenerator, type NexmarkEvent } from './generator.js';

/**
 * The Nexmark stream as a replayable source. The position is the next event number; with
 * parallelism p, task i produces the events n ≡ i (mod p), so the tasks together produce
 * each of the `events` events exactly once, and a replay from a checkpoint is exact.
 * Options are validated here, when the DAG is built (CONFIG_INVALID names the key).
 */
export function nexmarkSource(options: NexmarkOptions & { maxEventsPerSec?: number }): SourceFactory {
  const { maxEventsPerSec, ...generator } = options;
  const config = parseNexmarkOptions(generator);
  if (maxEventsPerSec !== undefined && !(Number.isFinite(maxEventsPerSec) && maxEventsPerSec > 0)) {
    throw new EngineError('CONFIG_INVALID', `invalid Nexmark options:\n  nexmark.maxEventsPerSec: must be a positive number, got ${String(maxEventsPerSec)}`);
  }
  return (): SourceTask => {
    const gen = new NexmarkGenerator(config);
    let next = 0;
    let step = 1;
    // Optional wall-clock throttle (demos, kill tests): a token bucket per task, its share of the rate.
    let started = 0;
    let emitted = 0;
    return {
      open(ctx: TaskContext, position: unknown) {
        step = ctx.parallelism;
        if (position === undefined || position === null) next = ctx.index;
        else if (typeof position === 'number' && Number.isSafeInteger(position) && position >= 0 && position % step === ctx.index % step) next = position;
        else throw new EngineError('CONFIG_INVALID', `nexmark source ${ctx.taskId}: cannot resume from position ${JSON.stringify(position)} (not an event number of task ${ctx.index} of ${step})`);
      },
      read(max) {
        if (next >= config.events) return null;
        if (maxEventsPerSec !== undefined) {
          const now = Date.now();
          if (started === 0) started = now;
          const allowed = Math.floor(((now - started) * maxEventsPerSec) / step / 1000) - emitted + 1;
          if (allowed <= 0) return [];
          max = Math.min(max, allowed);
          emitted += Math.min(max, Math.ceil((config.events - next) / step));
        }
        const out: NexmarkEvent[] = [];
        while (out.length < max && next < config.events) {
          out.push(gen.event(next));
          next += step;
        }
        return out;
      },
      position: () => next,
    };
  };
}

/** Every event of the stream in event-number order (for references and `sluice nexmark generate`). */
export function* nexmarkEvents(options: NexmarkOptions, from = 0, step = 1): Generator<NexmarkEvent> {
  const config = parseNexmarkOptions(options);
  const gen = new NexmarkGenerator(config);
  for (let n = from; n < config.events; n += step) yield gen.event(n);
}
