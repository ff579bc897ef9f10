import type { AppStorage, CheckpointPart, CheckpointWriter } from '@sluice/storage-api';
import { CheckpointCoordinator } from './checkpoint-coordinator.js';
import type { StageStats } from './control-protocol.js';

/** The checkpoints store of task state, and how many checkpoints it keeps. */
export const TASKS_STORE = 'tasks';
export const TASKS_RETAINED = 3;

/** What a committed checkpoint cost, summed over executors (the status and metrics report it). */
export interface CheckpointStats extends StageStats {
  t: number;
  commitMs: number;
}

/**
 * The AppMaster's side of checkpointing: opens the checkpoint writer with the app's
 * epoch (fencing older AppMasters first), reads the last committed time, and commits
 * a checkpoint once every task staged it. Commits are serialised and in time order.
 * Also tracks source exhaustion so bounded apps know when all output is committed.
 */
export class Committer {
  #writer!: CheckpointWriter;
  #coord!: CheckpointCoordinator;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #exhausted = new Map<string, number>();
  readonly #stats = new Map<number, { first: number; sum: StageStats }>();
  commits = 0;
  last: CheckpointStats | undefined;

  constructor(
    private readonly app: AppStorage,
    private readonly epoch: number,
    private readonly tasks: string[],
    private readonly sources: string[],
    private readonly onCommitted: (t: number) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Opens the writer (fences lower epochs) and returns the checkpoint to restore. */
  async open(): Promise<number | undefined> {
    const store = this.app.checkpoints(TASKS_STORE, { numRetained: TASKS_RETAINED });
    this.#writer = await store.writer(this.epoch);
    const last = await store.last();
    this.#coord = new CheckpointCoordinator(this.tasks, last?.t);
    return last?.t;
  }

  /**
   * Commits the app's first checkpoint from saved state (a savepoint or another app's
   * checkpoint, laid out for this plan): parts are staged and committed at t like any
   * checkpoint, so executors restore it through the ordinary path.
   */
  async seed(t: number, parts: Array<{ name: string; bytes: Uint8Array }>, meta: Record<string, unknown>): Promise<void> {
    const staged: CheckpointPart[] = [];
    for (const p of parts) staged.push(await this.#writer.stage(t, p.name, p.bytes));
    await this.#writer.commit(t, staged, { meta: { epoch: this.epoch, ...meta } });
    this.#coord.committed(t);
  }

  get lastCommitted(): number | undefined {
    return this.#coord?.lastCommitted;
  }

  staged(t: number, task: string, staged: CheckpointPart[], stats?: StageStats): void {
    if (stats) this.#add(t, stats);
    const parts = this.#coord.staged(t, task, staged);
    if (!parts) return;
    this.#queue = this.#queue.then(async () => {
      if (this.#coord.lastCommitted !== undefined && t <= this.#coord.lastCommitted) return;
      const s = this.#stats.get(t);
      for (const k of this.#stats.keys()) if (k <= t) this.#stats.delete(k);
      try {
        const cost = s ? { ...s.sum, t } : undefined;
        await this.#writer.commit(t, parts, { meta: { epoch: this.epoch, ...(cost ? { stats: cost } : {}) } });
        this.#coord.committed(t);
        this.commits++;
        if (s) this.last = { ...s.sum, t, commitMs: Math.max(0, performance.now() - s.first) };
        this.onCommitted(t);
      } catch (err) {
        this.onError(err);
      }
    });
  }

  #add(t: number, x: StageStats): void {
    const cur = this.#stats.get(t);
    if (!cur) {
      this.#stats.set(t, { first: performance.now(), sum: { ...x } });
      while (this.#stats.size > 64) this.#stats.delete(Math.min(...this.#stats.keys()));
      return;
    }
    const s = cur.sum;
    s.newBytes += x.newBytes;
    s.sharedBytes += x.sharedBytes;
    s.pauseMs = Math.max(s.pauseMs, x.pauseMs);
    s.uploadMs = Math.max(s.uploadMs, x.uploadMs);
    s.stateEntries += x.stateEntries;
  }

  exhausted(source: string, lastDataTs: number): void {
    this.#exhausted.set(source, lastDataTs);
  }

  /** Every source is exhausted and a commit covers all data they produced. */
  finished(): boolean {
    if (this.#exhausted.size < this.sources.length) return false;
    const last = this.#coord.lastCommitted;
    return last !== undefined && [...this.#exhausted.values()].every((ts) => last > ts);
  }

  async drain(): Promise<void> {
    await this.#queue;
  }
}
