import { isStorageError } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import { HttpError } from '../cluster/http.js';
import { redactMessage, stripControlChars } from '../security/redact.js';

/** 0 ok, 1 failure, 2 usage/config, 3 not found. */
export const EXIT_CODES = { OK: 0, FAILURE: 1, USAGE: 2, NOT_FOUND: 3 } as const;

export function exitCodeOf(err: unknown): number {
  if (err instanceof HttpError) return err.status === 404 ? 3 : err.status === 400 ? 2 : 1;
  if (err instanceof EngineError) {
    if (err.code === 'APP_NOT_FOUND') return 3;
    if (typeof err.details?.exit === 'number') return err.details.exit;
    return ['BAD_REQUEST', 'CONFIG_INVALID', 'DAG_INVALID', 'DAG_CYCLE', 'UNKNOWN_PROCESSOR'].includes(err.code) ? 2 : 1;
  }
  if (isStorageError(err)) {
    if (err.code === 'STORAGE_NOT_FOUND') return 3;
    return ['STORAGE_CONFIG_INVALID', 'STORAGE_MODULE_INVALID', 'STORAGE_INVALID_ARGUMENT'].includes(err.code) ? 2 : 1;
  }
  return 1;
}

/** Runs a command body; prints errors (JSON with --json) and sets the exit code. */
export async function run(json: boolean | undefined, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    // Error text may come from a remote peer: no terminal escapes, no URL credentials.
    const message = stripControlChars(redactMessage(e.message ?? String(err)));
    if (json) process.stderr.write(`${JSON.stringify({ error: { code: e.code ?? 'ERROR', message } })}\n`);
    else process.stderr.write(`sluice: ${message}${e.code ? ` [${stripControlChars(e.code)}]` : ''}\n`);
    process.exitCode = exitCodeOf(err);
  }
}

export function write(line = ''): void {
  process.stdout.write(`${line}\n`);
}
