/**
 * Errors of the observability layer (CLI filters, HTTP parameters, registry misuse).
 * Storage failures stay StorageErrors; these name bad input or a missing app.
 */
export type ObservabilityErrorCode = 'INVALID_ARGUMENT' | 'APP_NOT_FOUND' | 'MASTER_UNREACHABLE' | 'CLOSED';

export class ObservabilityError extends Error {
  readonly code: ObservabilityErrorCode;
  constructor(code: ObservabilityErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
  override get name(): string {
    return 'ObservabilityError';
  }
}

export function isObservabilityError(err: unknown, code?: ObservabilityErrorCode): err is ObservabilityError {
  return err instanceof ObservabilityError && (code === undefined || err.code === code);
}
