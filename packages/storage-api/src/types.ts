/**
 * The storage contract. Every backend implements these interfaces; the conformance
 * suite (./conformance) is the executable definition of their semantics and the
 * in-memory backend (./memory) the reference implementation.
 *
 * Callers get instances through `openStorage()`, which wraps the backend in a guard
 * that validates arguments, enforces the closed state and abort signals, and maps
 * stray errors, so backends receive only normalised input.
 */
import type { StorageErrorCode } from './errors.js';
import type { BlobBackend, BlobStore } from './blobs.js';

// ---------------------------------------------------------------- context, module

/** Minimal pino-compatible logger: backends log through what the daemon gives them. */
export interface StorageLogger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child?(bindings: Record<string, unknown>): StorageLogger;
}

export interface StorageContext {
  logger: StorageLogger;
  /** Wall clock in ms; injectable so tests can move time. */
  now: () => number;
  /** Folder that relative paths in options resolve against (the config file's folder, else cwd). */
  baseDir: string;
}

/** What a backend supports. The conformance suite skips only from these flags. */
export interface StorageCapabilities {
  /** Data outlives the Storage instance and the process. */
  persistent: boolean;
  /** Several processes (or Storage instances) may read and write one app's store at once. */
  multiProcess: boolean;
  /**
   * Several writers may race: create-only commits and epoch fencing are enforced
   * atomically by the store. False means the backend is only safe with one writer
   * per store (e.g. S3 without conditional writes, run with `singleWriter: true`).
   */
  multiWriter: boolean;
  /** logs.follow() delivers records appended by other instances. */
  follow: boolean;
  /** Metrics are rolled up (1m, 1h) with their own retention. */
  metricsRollups: boolean;
  /** Jar put/get of any size run in bounded memory (content is not held in the process). */
  boundedJarMemory?: boolean;
  /** Shared blobs (`storage.blobs`): versioned, content-addressed, with ACLs. */
  blobs?: boolean;
}

/** A zod-compatible schema (only safeParse is used), so modules need not depend on zod. */
export interface OptionsSchema<O> {
  safeParse(input: unknown):
    | { success: true; data: O }
    | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } };
}

/** A backend package's default export. */
export interface StorageModule<O = Record<string, unknown>> {
  readonly name: string;
  /** Upper bound of what instances can do; an instance may declare less after probing. */
  readonly capabilities: StorageCapabilities;
  readonly optionsSchema?: OptionsSchema<O>;
  /**
   * The storage contract version the module implements (STORAGE_CONTRACT_VERSION). Another
   * version is refused at load; undeclared, each store is checked for the hooks by name.
   */
  readonly contractVersion?: number;
  /** Returns the raw backend; callers get it through openStorage(), which guards it. */
  create(options: O, context: StorageContext): Promise<BackendStorage>;
  /** Optional hooks for the conformance suite run against a live instance (CLI). */
  readonly testHooks?: {
    /** Flips bytes of a stored jar or checkpoint part behind the backend's back. */
    corrupt(storage: Storage | BackendStorage, target: CorruptTarget): Promise<void>;
  };
}

/** What to corrupt in the verify-on-read cases: a jar's bytes, a checkpoint part's bytes, or the stored value of one offset entry. */
export type CorruptTarget =
  | { appId: string; jar: string }
  | { appId: string; store: string; t: number; part: string }
  | { appId: string; offsets: string; t: number }
  /** Replaces the text `from` by `to` in the stored form of one config entry (a value changed at rest). */
  | { appId: string; config: string; from: string; to: string };

// ---------------------------------------------------------------- storage and apps

export type AppStatus = 'created' | 'running' | 'stopped' | 'failed' | 'killed';

export interface AppMeta {
  appId: string;
  appName: string;
  /** User that owns the app; always has rwa. */
  owner: string;
  /** Storm-style entries: `u:<name>:<rwa>` and `o::<rwa>`. */
  acl: string[];
  status: AppStatus;
  /** Name of the jar the app runs: protected from deletion while the app runs. */
  jar?: string;
  labels: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  /** Bumped on every update; used for compare-and-set. */
  version: number;
  /**
   * Set by listApps() for an app whose stored metadata cannot be read (the other fields are
   * placeholders): one damaged app is reported, and the listing of the others goes on.
   */
  damaged?: { code: StorageErrorCode; message: string };
}

export interface CreateAppOptions {
  owner: string;
  acl?: string[];
  labels?: Record<string, string>;
}

export type AppMetaPatch = Partial<Pick<AppMeta, 'status' | 'jar' | 'acl' | 'labels'>>;

export interface Storage {
  readonly capabilities: StorageCapabilities;
  /** Module name, for plans and reports. */
  readonly backend: string;
  /** STORAGE_ALREADY_EXISTS if the id is taken. */
  createAppStorage(appName: string, appId: string, options: CreateAppOptions): Promise<AppStorage>;
  /** undefined if absent. */
  getAppStorage(appId: string): Promise<AppStorage | undefined>;
  listApps(): Promise<AppMeta[]>;
  /** STORAGE_IN_USE while the app is running; STORAGE_NOT_FOUND if absent. Deletes every sub-store. */
  deleteAppStorage(appId: string): Promise<void>;
  /** Backend facts for plans and reports, e.g. the S3 capability probe's findings. Optional. */
  describe?(): Record<string, unknown>;
  /** Cluster-wide shared blobs; present when `capabilities.blobs` is true. */
  readonly blobs?: BlobStore;
  close(): Promise<void>;
}

export interface AppStorage {
  readonly appId: string;
  readonly appName: string;
  meta(): Promise<AppMeta>;
  /** STORAGE_PRECONDITION_FAILED if ifVersion is given and differs. */
  updateMeta(patch: AppMetaPatch, options?: { ifVersion?: number }): Promise<AppMeta>;
  readonly jars: JarStore;
  readonly logs: LogStore;
  readonly metrics: MetricsStore;
  readonly config: ConfigStore;
  offsets(name: string): OffsetStore;
  checkpoints(name: string, options?: { numRetained?: number }): CheckpointStore;
  /** Names of offset / checkpoint stores that hold data (for gc and tools). */
  listTimeStores(kind: 'offsets' | 'checkpoints'): Promise<string[]>;
  /** Releases handles; the data stays. */
  close(): Promise<void>;
}

export interface OpOptions {
  signal?: AbortSignal;
}

// ---------------------------------------------------------------- jars

/** Bytes to store: a buffer, an async iterable of chunks, or a Node Readable. */
export type ByteSource = Uint8Array | AsyncIterable<Uint8Array>;

export interface TransferOptions extends OpOptions {
  /** Called with bytes transferred so far (and the total when known). */
  onProgress?: (done: number, total?: number) => void;
  /** Total size if known, for progress bars. */
  size?: number;
  /** If given, the put fails with STORAGE_CORRUPT unless the content hashes to it. */
  expectedSha256?: string;
}

export interface JarInfo {
  name: string;
  /** Lower-case hex SHA-256 of the content: the content address. */
  sha256: string;
  size: number;
  createdAt: number;
}

export interface JarStore {
  /**
   * Streams the content in (never buffered whole), hashing it on the way. Atomic: the
   * name points at the new content only once it is complete and durable. Identical
   * content is stored once. Replaces an existing name unless it is in use.
   */
  put(name: string, source: ByteSource, options?: TransferOptions): Promise<JarInfo>;
  /**
   * Streams the content out, verifying the digest on the way: the iteration throws
   * STORAGE_CORRUPT at the end if the bytes do not hash to the recorded digest.
   * STORAGE_NOT_FOUND (from the promise) if absent.
   */
  get(name: string, options?: TransferOptions): Promise<AsyncIterable<Uint8Array>>;
  stat(name: string, options?: OpOptions): Promise<JarInfo | undefined>;
  list(options?: OpOptions): Promise<JarInfo[]>;
  /** STORAGE_IN_USE if the app is running with this jar; STORAGE_NOT_FOUND if absent. */
  delete(name: string, options?: OpOptions): Promise<void>;
  copyFromLocal(path: string, name: string, options?: TransferOptions): Promise<JarInfo>;
  /** Writes to a temp file, fsyncs and renames only after verification. */
  copyToLocal(name: string, path: string, options?: TransferOptions): Promise<JarInfo>;
}

// ---------------------------------------------------------------- time-keyed stores

export interface TimeEntry {
  /** Event time, integer ms. */
  t: number;
  value: Uint8Array;
}

/**
 * lookUp(t): the first entry with time ≥ t, with Gearpump's explicit outcomes:
 * `empty` (nothing stored), `underflow` (t is before the first entry: carries it),
 * `overflow` (t is after the last entry: carries it).
 */
export type LookUpResult<E> =
  | { status: 'found'; entry: E }
  | { status: 'empty' }
  | { status: 'underflow'; min: E }
  | { status: 'overflow'; max: E };

export interface TimeKeyedReader<E> {
  readonly name: string;
  get(t: number, options?: OpOptions): Promise<E | undefined>;
  /** Last entry with time ≤ t. */
  floor(t: number, options?: OpOptions): Promise<E | undefined>;
  lookUp(t: number, options?: OpOptions): Promise<LookUpResult<E>>;
  first(options?: OpOptions): Promise<E | undefined>;
  last(options?: OpOptions): Promise<E | undefined>;
  /** Entries with from ≤ t < to, ascending, at most `limit` (default 10 000). */
  range(from: number, to: number, options?: OpOptions & { limit?: number }): Promise<E[]>;
  /** Highest epoch that has opened a writer (0 if none). */
  currentEpoch(options?: OpOptions): Promise<number>;
}

/**
 * Writers are opened with an epoch. Opening with a lower epoch than one already seen
 * fails with STORAGE_FENCED; once a higher epoch has opened, every write from a lower
 * epoch fails with STORAGE_FENCED (fences zombies after a restart).
 */
export interface TimeKeyedWriterBase {
  readonly epoch: number;
  /** Removes entries with time > t (recovery discards the future). Returns how many. */
  truncateAfter(t: number, options?: OpOptions): Promise<number>;
  /** Removes entries with time < t (retention). Returns how many. */
  truncateBefore(t: number, options?: OpOptions): Promise<number>;
}

export interface OffsetWriter extends TimeKeyedWriterBase {
  /**
   * Durable when it resolves. Times strictly increase: t ≤ last fails with
   * STORAGE_OUT_OF_ORDER, except re-appending exactly the last entry (same time,
   * same bytes), which is a no-op so a retry after a lost acknowledgement is safe.
   */
  append(t: number, value: Uint8Array, options?: OpOptions): Promise<void>;
  /** All or nothing, same ordering rules, entries in increasing time. */
  appendBatch(entries: TimeEntry[], options?: OpOptions): Promise<void>;
}

export interface OffsetStore extends TimeKeyedReader<TimeEntry> {
  writer(epoch: number, options?: OpOptions): Promise<OffsetWriter>;
}

export interface CheckpointPart {
  name: string;
  size: number;
  sha256: string;
  /** Backend locator of the staged bytes (unique, never reused). */
  ref: string;
}

export interface Checkpoint {
  t: number;
  epoch: number;
  parts: CheckpointPart[];
  meta: Record<string, unknown>;
  committedAt: number;
}

export interface CheckpointWriter extends TimeKeyedWriterBase {
  /**
   * Stores one part (e.g. one task's state) under a unique location. Invisible to
   * readers until a commit lists it. Any process with the same epoch may stage.
   */
  stage(t: number, part: string, bytes: Uint8Array, options?: OpOptions): Promise<CheckpointPart>;
  /**
   * Atomically commits checkpoint t listing the staged parts (one small manifest).
   * t below the last committed → STORAGE_OUT_OF_ORDER; t already committed →
   * STORAGE_ALREADY_EXISTS unless it is the identical commit (idempotent retry);
   * lower epoch → STORAGE_FENCED. Keeps the newest `numRetained` checkpoints.
   */
  commit(t: number, parts: CheckpointPart[], options?: OpOptions & { meta?: Record<string, unknown> }): Promise<Checkpoint>;
  /** stage(t, 'state', bytes) + commit(t, [part]). */
  append(t: number, bytes: Uint8Array, options?: OpOptions): Promise<Checkpoint>;
}

/**
 * The stage-only view of a checkpoints store for one epoch (what an executor needs):
 * made without I/O (no writer opens, nothing is swept, nothing is listed). Its stage has
 * the writer's validation and fencing: once a higher epoch has opened a writer, STORAGE_FENCED.
 * Like a writer's, a stage above the current epoch (no writer of it opened yet, or the app
 * was deleted since) is STORAGE_NOT_FOUND: the epoch is the one the committer opened.
 */
export interface CheckpointStager {
  readonly epoch: number;
  /** As CheckpointWriter.stage: one part under a unique location, invisible until a commit lists it. */
  stage(t: number, part: string, bytes: Uint8Array, options?: OpOptions): Promise<CheckpointPart>;
}

export interface CheckpointStore extends TimeKeyedReader<Checkpoint> {
  readonly numRetained: number;
  writer(epoch: number, options?: OpOptions): Promise<CheckpointWriter>;
  /** A stage-only view for `epoch`; synchronous, no I/O until the first stage (see CheckpointStager). */
  stager(epoch: number): CheckpointStager;
  /** Reads a committed part, verifying its SHA-256 (STORAGE_CORRUPT on mismatch). */
  readPart(t: number, part: string, options?: OpOptions): Promise<Uint8Array>;
}

// ---------------------------------------------------------------- logs

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface LogRecord {
  ts: number;
  level: LogLevel;
  msg: string;
  /** app, executor, processor, task, host ... */
  labels: Record<string, string>;
  fields?: Record<string, unknown>;
}

export interface LogQuery {
  /** Inclusive, ms. */
  from?: number;
  /** Exclusive, ms. */
  to?: number;
  minLevel?: LogLevel;
  /** Case-insensitive substring of msg. */
  text?: string;
  /** Every given label must match exactly. */
  labels?: Record<string, string>;
  /** Default 1000, at most 10 000. */
  limit?: number;
  /** From a previous page. */
  cursor?: string;
  /** By time; default 'asc'. */
  order?: 'asc' | 'desc';
}

export interface LogPage {
  records: LogRecord[];
  /** Present when more records may match. */
  cursor?: string;
}

export interface FollowOptions extends OpOptions {
  /** How often to look for new records; default 500 ms. */
  pollIntervalMs?: number;
}

export interface LogStats {
  count: number;
  bytes: number;
  oldestTs?: number;
  newestTs?: number;
}

export interface LogStore {
  append(records: LogRecord[], options?: OpOptions): Promise<void>;
  query(query: LogQuery, options?: OpOptions): Promise<LogPage>;
  /**
   * Live tail: yields matching records in arrival order, starting with those that
   * arrive after the call (or from `query.from` if given), until the signal aborts.
   */
  follow(query: LogQuery, options?: FollowOptions): AsyncIterable<LogRecord>;
  stats(options?: OpOptions): Promise<LogStats>;
  /** Retention: deletes records with ts < t; returns how many. */
  deleteBefore(t: number, options?: OpOptions): Promise<number>;
}

// ---------------------------------------------------------------- metrics

export type MetricKind = 'counter' | 'gauge' | 'meter' | 'histogram';
export type MetricAgg = 'avg' | 'min' | 'max' | 'sum' | 'count' | 'last' | 'p50' | 'p90' | 'p99';
/** raw points, then 1-minute and 1-hour rollups. */
export type MetricResolution = 'raw' | '1m' | '1h';

export interface MetricPoint {
  name: string;
  labels: Record<string, string>;
  ts: number;
  value: number;
  kind: MetricKind;
}

export interface MetricQuery {
  name: string;
  /** Every given label must match. */
  labels?: Record<string, string>;
  from: number;
  /** Exclusive. */
  to: number;
  /** Bucket width in ms; default: one bucket over [from, to). */
  step?: number;
  /** Default 'avg'. */
  agg?: MetricAgg;
  /** Group series by these label keys (others merged); default: every series apart. */
  by?: string[];
  /** Default 'auto': the coarsest rollup that fits the step (raw for percentiles). */
  resolution?: MetricResolution | 'auto';
}

export interface MetricSeries {
  name: string;
  labels: Record<string, string>;
  /** ts is the bucket start. Empty buckets are omitted. */
  points: Array<{ ts: number; value: number }>;
}

export interface SeriesInfo {
  name: string;
  labels: Record<string, string>;
  kind: MetricKind;
}

export interface MetricsStore {
  write(points: MetricPoint[], options?: OpOptions): Promise<void>;
  query(query: MetricQuery, options?: OpOptions): Promise<MetricSeries[]>;
  listSeries(filter?: { name?: string; labels?: Record<string, string> }, options?: OpOptions): Promise<SeriesInfo[]>;
  /** Retention per resolution: deletes points with ts < t; returns how many rows. */
  deleteBefore(t: number, options?: OpOptions & { resolution?: MetricResolution }): Promise<number>;
}

// ---------------------------------------------------------------- config

export interface ConfigEntry {
  processorId: string;
  /** Any JSON value. */
  value: unknown;
  /** Starts at 1, +1 per set. */
  version: number;
  updatedAt: number;
}

export interface ConfigStore {
  get(processorId: string, options?: OpOptions): Promise<ConfigEntry | undefined>;
  /**
   * ifVersion: compare-and-set (0 = must not exist yet); a mismatch fails with
   * STORAGE_PRECONDITION_FAILED. Returns the new entry.
   */
  set(processorId: string, value: unknown, options?: OpOptions & { ifVersion?: number }): Promise<ConfigEntry>;
  list(options?: OpOptions): Promise<ConfigEntry[]>;
  delete(processorId: string, options?: OpOptions & { ifVersion?: number }): Promise<void>;
}

// ---------------------------------------------------------------- backend view

/**
 * What a backend implements. The guard (openStorage) adds copyFromLocal/copyToLocal
 * on top of put/get, so backends only write them if they can do better.
 */
export type BackendJarStore = Omit<JarStore, 'copyFromLocal' | 'copyToLocal'> & Partial<Pick<JarStore, 'copyFromLocal' | 'copyToLocal'>>;

export type BackendAppStorage = Omit<AppStorage, 'jars' | 'offsets' | 'config' | 'checkpoints'> & {
  readonly jars: BackendJarStore;
  /** I/O hooks of the config store; storage-api applies versions, compare-and-set and the checksum. */
  readonly config: ConfigBackend;
  /** I/O hooks of one offsets store; storage-api applies the contract's policy over them. */
  offsets(name: string): OffsetBackend;
  /**
   * I/O hooks of one checkpoints store (storage-api applies the policy and retention), or
   * a CheckpointStore that applies the policy itself (modules written before the hooks).
   */
  checkpoints(name: string, options?: { numRetained?: number }): CheckpointBackend | CheckpointStore;
};

/** What a commit's policy sees, read inside the backend's atomic section. */
export interface CheckpointCommitState {
  /** Highest epoch that has opened a writer (0 after the app was deleted). */
  epoch: number;
  /** The checkpoint already committed at this t, if any. */
  atT: Checkpoint | undefined;
  /** The newest committed checkpoint. */
  last: Checkpoint | undefined;
  /** Size and digest of each part the commit lists that is staged (absent: not staged). */
  staged: ReadonlyMap<string, { size: number; sha256: string }>;
}

/**
 * What a prune's policy sees: every manifest (its time and part refs) and the staged refs
 * the backend knows of, each with the time it was staged for (the backend names its refs,
 * so only it can say). On a commit's retention a backend may pass only the refs its
 * manifests list (no listing of staged data per commit); its prune() passes them all.
 */
export interface CheckpointPruneState {
  epoch: number;
  committed: ReadonlyArray<{ t: number; refs: string[] }>;
  staged: ReadonlyArray<{ ref: string; t: number }>;
}

/**
 * The I/O of one checkpoints store. Each write hook reads the state atomically with its
 * write (a transaction, a lock, a conditional write) and stores exactly what the policy
 * returns; the policy throws to refuse.
 *
 * A backend without transactions (S3, HDFS) commits with a conditional write (create the
 * manifest only if absent); when that write loses, it reads what is there and calls `plan`
 * again with that as `atT` (an identical retry then succeeds, anything else is refused).
 * It may take `last`/`atT` from a per-store cache filled when a writer opens: fencing
 * makes that safe, since a writer that opened after the fill raised the epoch and every
 * commit reads the epoch first.
 */
export interface CheckpointBackend {
  readonly name: string;
  get(t: number, options?: OpOptions): Promise<Checkpoint | undefined>;
  floor(t: number, options?: OpOptions): Promise<Checkpoint | undefined>;
  lookUp(t: number, options?: OpOptions): Promise<LookUpResult<Checkpoint>>;
  first(options?: OpOptions): Promise<Checkpoint | undefined>;
  last(options?: OpOptions): Promise<Checkpoint | undefined>;
  range(from: number, to: number, options: OpOptions & { limit: number }): Promise<Checkpoint[]>;
  currentEpoch(options?: OpOptions): Promise<number>;
  /** Atomically: decide(current epoch) (throws to refuse), then record `epoch` as current if higher. */
  openEpoch(epoch: number, decide: (current: number) => void, options?: OpOptions): Promise<void>;
  /**
   * Atomically: check(current epoch), then store the bytes under a new ref, never reused,
   * for time t; returns the ref. The backend names it (it may carry t and the digest, so
   * that a commit can check a part another process staged from a listing or a HEAD).
   */
  stage(t: number, part: Omit<CheckpointPart, 'ref'>, bytes: Uint8Array, check: (current: number) => void, options?: OpOptions): Promise<string>;
  /** The staged bytes under ref (undefined if none, or if ref is not one this backend makes); storage-api verifies them. */
  readStaged(ref: string, options?: OpOptions): Promise<Uint8Array | undefined>;
  /**
   * Atomically: plan(state, the backend's clock now) → the checkpoint and whether to store
   * it (false: an identical retry, nothing to write); returns the plan's checkpoint.
   * `cp` carries the t and the part refs whose staged state the plan needs. Then, in the
   * same atomic section where the backend has one, applies `retain` as prune() does.
   */
  commit(
    cp: Checkpoint,
    plan: (state: CheckpointCommitState, now: number) => { store: boolean; checkpoint: Checkpoint },
    retain: (state: CheckpointPruneState) => { manifests: number[]; refs: string[] },
    options?: OpOptions,
  ): Promise<Checkpoint>;
  /** Atomically: plan(state) → the manifests (by t) and staged refs to delete; returns how many manifests went. */
  prune(plan: (state: CheckpointPruneState) => { manifests: number[]; refs: string[] }, options?: OpOptions): Promise<number>;
}

/**
 * The I/O of the config store. Entries are stored exactly as given (the value is a
 * checksummed frame storage-api made); each write hook reads the current entry atomically
 * with its write (a transaction, a lock, a conditional write) and hands it to the policy.
 */
export interface ConfigBackend {
  get(processorId: string, options?: OpOptions): Promise<ConfigEntry | undefined>;
  list(options?: OpOptions): Promise<ConfigEntry[]>;
  /** Atomically: next(current entry, the backend's clock now) → the entry to store (throws to refuse). */
  put(processorId: string, next: (current: ConfigEntry | undefined, now: number) => ConfigEntry, options?: OpOptions): Promise<void>;
  /** Atomically: check(current entry) (throws to refuse), then removes it. */
  remove(processorId: string, check: (current: ConfigEntry | undefined) => void, options?: OpOptions): Promise<void>;
}

/** What the state-changing offset hooks see, read inside the backend's atomic section. */
export interface OffsetState {
  /** Highest epoch that has opened a writer (0 if none, e.g. after the app was deleted). */
  epoch: number;
  /**
   * The newest stored entry. Its value may be left out when its time is below the batch's
   * first time (`firstT`): the policy compares values only for a retry of the last entry.
   */
  last: { t: number; value?: Uint8Array } | undefined;
}

/**
 * The I/O of one offsets store (abstract-level's "private API for implementors"). Values are
 * opaque bytes (storage-api stores a checksummed frame); backends never decide fencing,
 * ordering or retries: each write hook reads the current state atomically with respect to
 * other writers (a transaction, a lock, a conditional write), hands it to the policy callback
 * it is given, and stores exactly what that returns; a callback that throws aborts the write.
 */
export interface OffsetBackend {
  readonly name: string;
  get(t: number, options?: OpOptions): Promise<TimeEntry | undefined>;
  /** Last entry with time ≤ t. */
  floor(t: number, options?: OpOptions): Promise<TimeEntry | undefined>;
  /** First entry with time ≥ t. */
  ceiling(t: number, options?: OpOptions): Promise<TimeEntry | undefined>;
  first(options?: OpOptions): Promise<TimeEntry | undefined>;
  last(options?: OpOptions): Promise<TimeEntry | undefined>;
  /** from ≤ t < to, ascending, at most `limit` (always given, already capped). */
  range(from: number, to: number, options: OpOptions & { limit: number }): Promise<TimeEntry[]>;
  /** Optional: lookUp in fewer round trips; the default composes first/last/ceiling. */
  lookUp?(t: number, options?: OpOptions): Promise<LookUpResult<TimeEntry>>;
  currentEpoch(options?: OpOptions): Promise<number>;
  /** Atomically: decide(current epoch) (throws to refuse), then record `epoch` as current if it is higher or none is recorded. */
  openEpoch(epoch: number, decide: (current: number) => void, options?: OpOptions): Promise<void>;
  /** Atomically: plan(state) → entries to store (may be none), stored all or nothing. `firstT`: the batch's first time. */
  append(firstT: number, plan: (state: OffsetState) => TimeEntry[], options?: OpOptions): Promise<void>;
  /** Atomically: check(current epoch) (throws to refuse), then removes entries with time < t ('before') or > t ('after'); returns how many. */
  truncate(side: 'before' | 'after', t: number, check: (current: number) => void, options?: OpOptions): Promise<number>;
}

export type BackendStorage = Omit<Storage, 'createAppStorage' | 'getAppStorage' | 'blobs'> & {
  /**
   * The blob primitives; the guard builds `Storage.blobs` on them (blob-core.ts). A
   * composition of guarded stores (routing) passes its BlobStore through instead.
   */
  readonly blobs?: BlobBackend | BlobStore;
  createAppStorage(appName: string, appId: string, options: CreateAppOptions): Promise<BackendAppStorage>;
  getAppStorage(appId: string): Promise<BackendAppStorage | undefined>;
  /**
   * fsck hook (optional): what only the backend can see in one app. Orphans — staged parts
   * that can no longer be committed, blobs no name points at, temp files of dead writers —
   * removed when `repair` is set (never anything a committed manifest or a jar name
   * references); and damage below the contract (e.g. a database index that fails its
   * integrity check). The contract-level checks (digests, manifests, ordering) are fsck's own.
   */
  fsckApp?(appId: string, options: { repair: boolean }): Promise<FsckHookFinding[]>;
};

/** What a backend's fsck hook found in one app. */
export interface FsckHookFinding {
  subStore: SubStoreKind;
  /** Store, jar, part or file it concerns. */
  target: string;
  kind: 'orphan' | 'damage';
  message: string;
  /** Set when `repair` removed it. */
  repaired?: boolean;
}

// ---------------------------------------------------------------- misc

export type SubStoreKind = 'jars' | 'logs' | 'metrics' | 'config' | 'offsets' | 'checkpoints';
export const SUB_STORES: readonly SubStoreKind[] = ['jars', 'logs', 'metrics', 'config', 'offsets', 'checkpoints'];

export type { StorageErrorCode };
