import type { CheckpointPart } from '@sluice/storage-api';

/**
 * Collects staged parts per checkpoint time and says when a checkpoint is complete:
 * every task staged t. Times at or below the last commit are stale (ignored). A task
 * may skip a boundary (its clock jumped over it); such a t never completes and is
 * dropped once a later one commits. Bounded: at most `maxOpen` open times are kept.
 */
export class CheckpointCoordinator {
  readonly #tasks: ReadonlySet<string>;
  readonly #open = new Map<number, Map<string, CheckpointPart[]>>();
  #committed: number | undefined;

  constructor(taskIds: Iterable<string>, lastCommitted?: number, private readonly maxOpen = 64) {
    this.#tasks = new Set(taskIds);
    this.#committed = lastCommitted;
  }

  get lastCommitted(): number | undefined {
    return this.#committed;
  }

  /** Returns the parts (in task order, each listed once) once every task has staged t, else undefined. */
  staged(t: number, taskId: string, staged: CheckpointPart[]): CheckpointPart[] | undefined {
    if (!this.#tasks.has(taskId)) return undefined;
    if (this.#committed !== undefined && t <= this.#committed) return undefined;
    let parts = this.#open.get(t);
    if (!parts) {
      this.#open.set(t, (parts = new Map<string, CheckpointPart[]>()));
      while (this.#open.size > this.maxOpen) this.#open.delete(Math.min(...this.#open.keys()));
    }
    parts.set(taskId, staged);
    if (parts.size < this.#tasks.size) return undefined;
    const out = new Map<string, CheckpointPart>();
    for (const id of this.#tasks) for (const p of parts.get(id)!) if (!out.has(p.name)) out.set(p.name, p);
    return [...out.values()];
  }

  /** Records a successful commit of t and forgets t and everything older. */
  committed(t: number): void {
    this.#committed = this.#committed === undefined ? t : Math.max(this.#committed, t);
    for (const k of [...this.#open.keys()]) if (k <= this.#committed) this.#open.delete(k);
  }

  /** Open (incomplete) times, ascending. */
  openTimes(): number[] {
    return [...this.#open.keys()].sort((a, b) => a - b);
  }
}
