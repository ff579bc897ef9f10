/**
 * Engine errors carry a stable `code` so the CLI can map them to exit codes and the
 * control API to HTTP statuses; messages may change.
 */
export type EngineErrorCode =
  | 'DAG_INVALID'
  | 'DAG_CYCLE'
  | 'UNKNOWN_PROCESSOR'
  | 'ARTIFACT_INVALID'
  | 'ARTIFACT_CORRUPT'
  | 'APP_NOT_FOUND'
  | 'APP_STATE'
  | 'BAD_REQUEST'
  | 'FRAME_INVALID'
  | 'CONFIG_INVALID'
  | 'MASTER_UNREACHABLE'
  | 'NO_WORKERS'
  | 'INTERNAL';

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

/** HTTP status used by the control API for each code. */
export function httpStatusOf(code: string): number {
  switch (code) {
    case 'APP_NOT_FOUND':
    case 'STORAGE_NOT_FOUND':
      return 404;
    case 'APP_STATE':
    case 'STORAGE_IN_USE':
      return 409;
    case 'NO_WORKERS':
    case 'MASTER_UNREACHABLE':
      return 503;
    case 'INTERNAL':
      return 500;
    default:
      return 400;
  }
}
