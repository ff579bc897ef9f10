import type { AppStorage } from '@sluice/storage-api';
import { validateDag, type Dag } from '../dsl/dag.js';
import type { TaskLogger } from '../dsl/task.js';
import { Committer } from './committer.js';
import { ExecutorCore, executorPart } from './executor-core.js';
import { ExecutionPlan } from './plan.js';

export interface InProcessOptions {
  dag: Dag;
  app: AppStorage;
  epoch: number;
  intervalMs?: number;
  logger?: TaskLogger;
  batchSize?: number;
  /** How often per-processor config is re-read from the config store (default 2000 ms). */
  configPollMs?: number;
}

const silent: TaskLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Runs a whole DAG in this process: one executor, an inline AppMaster (commit loop),
 * the same checkpoint protocol. Used by benchmarks and unit tests; a "failure" is
 * stop() without a commit followed by a new instance with a higher epoch.
 */
export class InProcessApp {
  readonly plan: ExecutionPlan;
  core!: ExecutorCore;
  committer!: Committer;
  restoredFrom: number | undefined;
  #error: Error | undefined;
  /** Keeps the latest failure (a commit, a task); waitFinished() rethrows it. */
  readonly #fail = (e: unknown): void => {
    this.#error = e instanceof Error ? e : new Error(String(e));
  };

  constructor(private readonly opts: InProcessOptions) {
    this.plan = new ExecutionPlan(validateDag(opts.dag), 1);
  }

  async start(): Promise<void> {
    const names = [executorPart(0)];
    const sources = this.plan.tasks.filter((t) => t.source).map((t) => t.name);
    this.committer = new Committer(this.opts.app, this.opts.epoch, names, sources, (t) => void this.core.commit(t).catch(this.#fail), this.#fail);
    this.restoredFrom = await this.committer.open();
    this.core = new ExecutorCore({
      appId: this.opts.app.appId, epoch: this.opts.epoch, plan: this.plan, self: 0, app: this.opts.app,
      intervalMs: this.opts.intervalMs ?? 1000, logger: this.opts.logger ?? silent, batchSize: this.opts.batchSize, configPollMs: this.opts.configPollMs,
      ...(this.restoredFrom === undefined ? {} : { restoreT: this.restoredFrom }),
      onStaged: (t, task, parts, stats) => this.committer.staged(t, task, parts, stats),
      onExhausted: (task, ts) => this.committer.exhausted(task, ts),
      onFatal: this.#fail,
    });
    await this.core.open(this.opts.dag);
    this.core.start();
  }

  get error(): unknown {
    return this.#error;
  }

  /** Resolves when all output is committed; rejects on a task error or after timeoutMs. */
  async waitFinished(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.committer.finished()) {
      if (this.#error) throw this.#error;
      if (Date.now() > deadline) throw new Error(`app did not finish within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await this.committer.drain();
  }

  async stop(): Promise<void> {
    await this.core?.stop();
  }
}
