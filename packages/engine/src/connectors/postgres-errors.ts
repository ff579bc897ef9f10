import pg from 'pg';

/**
 * What a failure from PostgreSQL (or from the socket to it) means for a sink: retry it
 * (`transient`), or fail the task with one of the typed codes. The one place native
 * errors are mapped, as storage backends do.
 */
export type PgFailure = 'transient' | 'auth' | 'schema' | 'poison' | 'other';

/** Socket-level codes that mean "the server is not there right now". */
const TRANSIENT_NET = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);

/** SQLSTATEs worth another attempt: shutdowns and restarts, overload, lost races, timeouts. */
const TRANSIENT_SQLSTATE = new Set([
  '57P01', // admin_shutdown (a fast or smart shutdown)
  '57P02', // crash_shutdown (another backend crashed)
  '57P03', // cannot_connect_now (starting up, in recovery)
  '57014', // query_canceled (our statement_timeout on a slow server)
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
]);

/** pg's own messages for a connection that died or never came (no code on these). */
const TRANSIENT_MESSAGE = /Connection terminated|connection timeout|timeout expired|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|not queryable/i;

export function sqlStateOf(err: unknown): string | undefined {
  return err instanceof pg.DatabaseError ? err.code : undefined;
}

export function classifyPgError(err: unknown): PgFailure {
  const state = sqlStateOf(err);
  if (state !== undefined) {
    if (TRANSIENT_SQLSTATE.has(state) || state.startsWith('08')) return 'transient';
    // 28xxx: bad password or user; 42501: insufficient_privilege
    if (state.startsWith('28') || state === '42501') return 'auth';
    // undefined table/column/schema, no unique index for ON CONFLICT, wrong database
    if (['42P01', '42703', '3F000', '42P10', '3D000', '42804', '42601'].includes(state)) return 'schema';
    // class 22 data exception, class 23 integrity constraint: the row, not the server
    if (state.startsWith('22') || state.startsWith('23')) return 'poison';
    return 'other';
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_NET.has(code)) return 'transient';
  const message = err instanceof Error ? err.message : String(err);
  return TRANSIENT_MESSAGE.test(message) ? 'transient' : 'other';
}

/** A short "SQLSTATE x: message" for our error messages (never the connection string). */
export function describePgError(err: unknown): string {
  const state = sqlStateOf(err);
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (state) return `${message} (SQLSTATE ${state})`;
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}

/**
 * A data error on a multi-row INSERT names the bound parameter it choked on
 * ("unnamed portal parameter $17 = '...'"): its 0-based index, or undefined.
 */
export function failedParameterOf(err: unknown): number | undefined {
  if (!(err instanceof pg.DatabaseError) || !err.where) return undefined;
  const m = /parameter \$(\d+)/.exec(err.where);
  return m ? Number(m[1]) - 1 : undefined;
}
