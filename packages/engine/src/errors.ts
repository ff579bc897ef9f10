import { isStorageError, type StorageErrorCode } from '@sluice/storage-api';

/**
 * The engine's one error surface: every code, its HTTP status on every router and its
 * CLI exit code live in the one table below, so the three can never drift apart.
 * Codes are stable; messages may change.
 */
const ENGINE_CODES = {
  DAG_INVALID: { http: 400, exit: 2 },
  DAG_CYCLE: { http: 400, exit: 2 },
  UNKNOWN_PROCESSOR: { http: 400, exit: 2 },
  ARTIFACT_INVALID: { http: 400, exit: 1 },
  ARTIFACT_CORRUPT: { http: 400, exit: 1 },
  /** An artifact over the cluster's `master.maxArtifactBytes`. */
  ARTIFACT_TOO_LARGE: { http: 413, exit: 2 },
  /** `sluice bundle`/`submit`: a dependency is a native addon (a .node file, binding.gyp, gypfile): names the package. */
  ARTIFACT_NATIVE_ADDON: { http: 400, exit: 2 },
  /** `sluice bundle`/`submit`: an import nothing resolves (a package not installed, a missing file): names it and its importer. */
  ARTIFACT_MISSING_DEPENDENCY: { http: 400, exit: 2 },
  /** `sluice bundle`/`submit`: a folder with no entry module (package.json exports/main, index.*, app.*). */
  ARTIFACT_NO_ENTRY: { http: 400, exit: 2 },
  /** `sluice bundle`/`submit`: the bundler refused the source (a syntax error, an unsupported file): names file and line. */
  ARTIFACT_BUILD_FAILED: { http: 400, exit: 2 },
  APP_NOT_FOUND: { http: 404, exit: 3 },
  /** The app is not in a state that allows the call (e.g. kill a stopped app, a stale epoch). */
  APP_STATE: { http: 409, exit: 1 },
  /** A compare-and-set on a seed lost a race: re-read and decide again. */
  SEED_CONFLICT: { http: 409, exit: 1 },
  /** A seed in the seed store does not parse: names the key. */
  SEED_CORRUPT: { http: 500, exit: 1 },
  /** The seed store (etcd) cannot be reached or refused the write: try again later. */
  SEED_STORE_UNAVAILABLE: { http: 503, exit: 1 },
  /** This master is a follower: `details.leader` names the leader's address. */
  NOT_LEADER: { http: 421, exit: 1 },
  BAD_REQUEST: { http: 400, exit: 2 },
  /** Well-formed request, but a value breaks a cluster limit (executors, size). */
  LIMIT_EXCEEDED: { http: 400, exit: 2 },
  NO_ROUTE: { http: 404, exit: 3 },
  METHOD_NOT_ALLOWED: { http: 405, exit: 2 },
  UNAUTHENTICATED: { http: 401, exit: 1 },
  FORBIDDEN: { http: 403, exit: 1 },
  FRAME_INVALID: { http: 400, exit: 1 },
  CONFIG_INVALID: { http: 400, exit: 2 },
  MASTER_UNREACHABLE: { http: 503, exit: 1 },
  /** `master.port: 0` and the local cluster's run file names a pid that is gone (`sluice local` was killed). */
  LOCAL_CLUSTER_STALE: { http: 503, exit: 1 },
  NO_WORKERS: { http: 503, exit: 1 },
  TIMEOUT: { http: 504, exit: 1 },
  /** A blob archive with unsafe entries (traversal, links, devices) or past its size/entry limits. */
  ARCHIVE_UNSAFE: { http: 400, exit: 2 },
  /** Entries after a source's committed position were trimmed or deleted (e.g. a Redis stream's MAXLEN): replay would skip them. */
  SOURCE_TRIMMED: { http: 410, exit: 1 },
  /** A source's server could not be reached (or did not answer) within the connector's retry budget. */
  SOURCE_UNAVAILABLE: { http: 503, exit: 1 },
  /** A source's server refused the credentials (retrying cannot help). */
  SOURCE_AUTH_FAILED: { http: 401, exit: 1 },
  /** A source entry lacks what the connector was configured to read (e.g. the `field` of a Redis entry). */
  SOURCE_RECORD_INVALID: { http: 422, exit: 1 },
  /** A CDC source's replication slot is gone although the app has a committed position in it (dropped by hand?): the changes since are lost. */
  SOURCE_SLOT_MISSING: { http: 410, exit: 1 },
  /** A source's server is not set up for it (e.g. PostgreSQL's wal_level is not logical). */
  SOURCE_UNSUPPORTED: { http: 400, exit: 2 },
  /** A source's tables or publication do not exist or do not match its options. */
  SOURCE_SCHEMA: { http: 400, exit: 2 },
  /** A CDC source's staged snapshot (its spool tables) vanished before the snapshot was read to the end. */
  SOURCE_SNAPSHOT_LOST: { http: 410, exit: 1 },
  /** No savepoint of that name (or no retained checkpoint at/before a --from-time). */
  SAVEPOINT_NOT_FOUND: { http: 404, exit: 3 },
  /** A savepoint name breaks the naming rule, or its bytes are not a savepoint of a known format version. */
  SAVEPOINT_INVALID: { http: 400, exit: 2 },
  /** Restored state of a processor has no home in the new app (and --allow-unmatched-state was not given). */
  STATE_UNMATCHED: { http: 400, exit: 2 },
  /** Restored state cannot move to the new app's shape (key groups, source or operator-state parallelism). */
  STATE_INCOMPATIBLE: { http: 400, exit: 2 },
  /** A sink's server (e.g. PostgreSQL) stayed unreachable or kept failing transiently past the sink's retry budget. */
  SINK_UNAVAILABLE: { http: 503, exit: 1 },
  /** A sink's server refused its credentials or a privilege it needs. */
  SINK_AUTH_FAILED: { http: 502, exit: 1 },
  /** A sink's table does not match its options: a missing table or column, a key without a unique index. */
  SINK_SCHEMA: { http: 400, exit: 2 },
  /** A value a sink cannot write (wrong shape, or the server refused it: type, range, constraint): names the row. */
  SINK_POISON_ROW: { http: 422, exit: 1 },
  /** A newer epoch already writes this sink task: this one is a zombie and must not commit. */
  SINK_FENCED: { http: 409, exit: 1 },
  /** More rows wait to be written than the sink's bound allows (its server is slow or down). */
  SINK_BACKLOG: { http: 503, exit: 1 },
  /** A sink's server refused a write for another reason (named with its native code). */
  SINK_REJECTED: { http: 502, exit: 1 },
  /** A record's event time (withTimestamps' function) is not a finite number of ms. */
  EVENT_TIME_INVALID: { http: 422, exit: 1 },
  INTERNAL: { http: 500, exit: 1 },
} as const satisfies Record<string, { http: number; exit: number }>;

export type EngineErrorCode = keyof typeof ENGINE_CODES;
export const ENGINE_ERROR_CODES = Object.keys(ENGINE_CODES) as EngineErrorCode[];

/** Storage codes as the control API and the CLI report them (exhaustive: a new code must be placed). */
const STORAGE_CODES: Record<StorageErrorCode, { http: number; exit: number }> = {
  STORAGE_NOT_FOUND: { http: 404, exit: 3 },
  STORAGE_ALREADY_EXISTS: { http: 409, exit: 1 },
  STORAGE_INVALID_ARGUMENT: { http: 400, exit: 2 },
  STORAGE_OUT_OF_ORDER: { http: 409, exit: 1 },
  STORAGE_TOO_LARGE: { http: 413, exit: 1 },
  STORAGE_FENCED: { http: 409, exit: 1 },
  STORAGE_PRECONDITION_FAILED: { http: 412, exit: 1 },
  STORAGE_PERMISSION_DENIED: { http: 403, exit: 1 },
  STORAGE_CORRUPT: { http: 500, exit: 1 },
  STORAGE_IN_USE: { http: 409, exit: 1 },
  STORAGE_UNAVAILABLE: { http: 503, exit: 1 },
  STORAGE_TIMEOUT: { http: 504, exit: 1 },
  STORAGE_ABORTED: { http: 499, exit: 1 },
  STORAGE_NOT_SUPPORTED: { http: 501, exit: 1 },
  STORAGE_CLOSED: { http: 503, exit: 1 },
  STORAGE_CONFIG_INVALID: { http: 400, exit: 2 },
  STORAGE_MODULE_INVALID: { http: 400, exit: 2 },
  STORAGE_IO_ERROR: { http: 500, exit: 1 },
};

/** Codes of the observability layer (query parsing), mapped like the engine's. */
const OTHER_CODES: Record<string, { http: number; exit: number }> = {
  INVALID_ARGUMENT: { http: 400, exit: 2 },
  CLOSED: { http: 503, exit: 1 },
  /** A dashboard write without the dashboard's header or from another origin. */
  CSRF: { http: 403, exit: 1 },
  UI_NOT_BUILT: { http: 503, exit: 1 },
};

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: EngineErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.details) this.details = options.details;
  }
  override get name(): string {
    return 'EngineError';
  }
}

export function isEngineError(err: unknown, code?: EngineErrorCode): err is EngineError {
  return err instanceof EngineError && (code === undefined || err.code === code);
}

function entryOf(code: string): { http: number; exit: number } | undefined {
  return (ENGINE_CODES as Record<string, { http: number; exit: number }>)[code] ?? (STORAGE_CODES as Record<string, { http: number; exit: number }>)[code] ?? OTHER_CODES[code];
}

/** HTTP status the control API answers for an error code (unknown codes: 500). */
export function httpStatusOf(code: string): number {
  return entryOf(code)?.http ?? 500;
}

/** CLI exit codes: 0 ok, 1 failure, 2 usage or config error, 3 not found. */
export const EXIT_CODES = { OK: 0, FAILURE: 1, USAGE: 2, NOT_FOUND: 3 } as const;

/** The CLI's exit code for an error code (unknown codes: 1). */
export function exitCodeOfCode(code: string): number {
  return entryOf(code)?.exit ?? EXIT_CODES.FAILURE;
}

/** Maps any thrown value to `{ code, status }`: what a router answers. */
export function errorResponseOf(err: unknown): { code: string; status: number; message: string; details?: Record<string, unknown> } {
  const e = err as { code?: unknown; message?: unknown; details?: Record<string, unknown> };
  const code = typeof e?.code === 'string' && (entryOf(e.code) || isStorageError(err)) ? e.code : 'INTERNAL';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const out: { code: string; status: number; message: string; details?: Record<string, unknown> } = { code, status: httpStatusOf(code), message };
  if (err instanceof EngineError && err.details) out.details = err.details;
  return out;
}
