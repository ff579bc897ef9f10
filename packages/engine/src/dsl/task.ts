/**
 * The low-level Task API. Messages travel in batches that share one event timestamp
 * (`ts`, integer ms): passing arrays instead of per-message objects or promises is what
 * keeps Node fast. A task sees `onNext` only for batches before the next checkpoint
 * boundary; the runtime holds back the rest until every input has passed it.
 */
export interface TaskLogger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** The app's mapped blobs as this task sees them (the version in use switches at a checkpoint boundary). */
export interface TaskBlobs {
  /** Local path of the mapped blob (a folder when mapped with `uncompress`); throws for an unmapped name. */
  path(name: string): string;
  /** The blob version this task uses now. */
  version(name: string): number;
}

export interface TaskContext {
  readonly appId: string;
  readonly taskId: string;
  readonly processor: string;
  readonly index: number;
  readonly parallelism: number;
  /** Latest per-processor config from the config store (polled; see onConfig). */
  readonly config: unknown;
  readonly logger: TaskLogger;
  /** Blobs mapped by the app config (`blobs`). */
  readonly blobs: TaskBlobs;
  /** Sends a batch downstream, all stamped `ts` (must not be below the task's input clock). */
  emit(values: unknown[], ts: number): void;
}

export interface Task {
  onStart?(ctx: TaskContext): void | Promise<void>;
  /** A batch of messages that share event time `ts`. Synchronous on purpose. */
  onNext(values: unknown[], ts: number, ctx: TaskContext): void;
  /**
   * The input clock passed checkpoint boundary `t`: every message before t has been
   * seen. Called before the state at t is snapshotted; results emitted here should be
   * stamped `t - 1` so downstream includes them in its own checkpoint t.
   */
  onClock?(t: number, ctx: TaskContext): void;
  /** JSON-serialisable state (or bytes) at the current boundary. Stateless tasks omit it. */
  snapshot?(): unknown;
  /** Called before onStart with what snapshot() returned at the restored checkpoint. */
  restore?(state: unknown, ctx: TaskContext): void | Promise<void>;
  /** Checkpoint t is committed: transactional sinks publish what they staged up to t. */
  onCommit?(t: number, ctx: TaskContext): void | Promise<void>;
  /** Restored at checkpoint t (after restore): sinks discard what was staged after t. */
  onRecover?(t: number | undefined, ctx: TaskContext): void | Promise<void>;
  /** The processor's config changed in the config store. */
  onConfig?(value: unknown, ctx: TaskContext): void;
  /**
   * A mapped blob switched to `version` (local `path`): called when the task's input clock
   * reaches the switch boundary B chosen by the AppMaster, after the snapshot of every
   * boundary before B and before any message at or after B. Synchronous on purpose.
   */
  onBlobUpdate?(name: string, version: number, path: string, ctx: TaskContext): void;
  onStop?(ctx: TaskContext): void | Promise<void>;
}

/**
 * A replayable source. `position()` is what the offset store records at each
 * checkpoint boundary; after a failure `open` receives the position at the restored
 * checkpoint and must replay from exactly there.
 */
export interface SourceTask {
  open(ctx: TaskContext, position: unknown): void | Promise<void>;
  /** Up to `max` messages; [] when nothing is ready now; null when exhausted for good. */
  read(max: number): unknown[] | null;
  /** JSON-serialisable position of the next message read() would return. */
  position(): unknown;
  /**
   * Checkpoint t is committed, and with it `position`: what position() returned at boundary t
   * (the newest boundary ≤ t this task recorded; undefined if none since it opened). Sources
   * that acknowledge upstream (a replication slot) do it here, never earlier.
   */
  onCommit?(t: number, position: unknown): void | Promise<void>;
  close?(): void | Promise<void>;
}

export type TaskFactory = () => Task;
export type SourceFactory = () => SourceTask;
