import type { AppStorage, CheckpointPart, CheckpointWriter } from '@sluice/storage-api';
import { CheckpointCoordinator } from './checkpoint-coordinator.js';

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
  commits = 0;

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
    const store = this.app.checkpoints('tasks', { numRetained: 5 });
    this.#writer = await store.writer(this.epoch);
    const last = await store.last();
    this.#coord = new CheckpointCoordinator(this.tasks, last?.t);
    return last?.t;
  }

  get lastCommitted(): number | undefined {
    return this.#coord?.lastCommitted;
  }

  staged(t: number, task: string, part: CheckpointPart): void {
    const parts = this.#coord.staged(t, task, part);
    if (!parts) return;
    this.#queue = this.#queue.then(async () => {
      if (this.#coord.lastCommitted !== undefined && t <= this.#coord.lastCommitted) return;
      try {
        await this.#writer.commit(t, parts, { meta: { epoch: this.epoch } });
        this.#coord.committed(t);
        this.commits++;
        this.onCommitted(t);
      } catch (err) {
        this.onError(err);
      }
    });
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
