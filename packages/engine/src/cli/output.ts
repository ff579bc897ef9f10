import { isStorageError } from '@sluice/storage-api';

/** Exit codes shared by every command. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, NOT_FOUND: 3 } as const;

export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints an error the way every command does and sets the exit code from its reason. */
export function fail(err: unknown, json = false): void {
  const e = err as { code?: string; message?: string; details?: unknown };
  const code = isStorageError(err) ? e.code : undefined;
  if (json) process.stderr.write(`${JSON.stringify({ error: { code: code ?? 'ERROR', message: e?.message ?? String(err), details: e?.details } })}\n`);
  else process.stderr.write(`sluice: ${e?.message ?? String(err)}${code ? ` [${code}]` : ''}\n`);
  process.exitCode =
    code === 'STORAGE_CONFIG_INVALID' || code === 'STORAGE_MODULE_INVALID' || code === 'STORAGE_INVALID_ARGUMENT'
      ? EXIT.USAGE
      : code === 'STORAGE_NOT_FOUND'
        ? EXIT.NOT_FOUND
        : EXIT.FAILURE;
}

/** Left-aligned table for TTY-friendly output. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
