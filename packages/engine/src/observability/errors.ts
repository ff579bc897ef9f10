/**
 * Errors of the observability layer (CLI filters, HTTP parameters, registry misuse).
 * Storage failures stay StorageErrors; these name bad input or a missing app.
 */
export type ObservabilityErrorCode =
  | 'INVALID_ARGUMENT'
  | 'APP_NOT_FOUND'
  | 'MASTER_UNREACHABLE'
  | 'CLOSED'
  /** No or unknown token / session (HTTP 401). */
  | 'UNAUTHENTICATED'
  /** Authenticated, but the app's ACL does not grant the permission (HTTP 403). */
  | 'FORBIDDEN'
  /** A state-changing request without the dashboard's same-origin proof (HTTP 403). */
  | 'CSRF'
  /** The dashboard assets were not built (HTTP 503). */
  | 'UI_NOT_BUILT';

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
