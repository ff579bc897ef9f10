import { EXIT_CODES, exitCodeOfCode } from '../errors.js';
import { redactMessage, stripControlChars } from '../security/redact.js';

/** Exit codes shared by every command (the engine's one table). */
export const EXIT = EXIT_CODES;

export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints an error the way every command does and sets the exit code from its reason. */
export function fail(err: unknown, json = false): void {
  const e = err as { code?: unknown; message?: unknown; details?: unknown };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = stripControlChars(redactMessage(typeof e?.message === 'string' ? e.message : String(err)));
  if (json) process.stderr.write(`${JSON.stringify({ error: { code: code ?? 'ERROR', message, details: e?.details } })}\n`);
  else process.stderr.write(`sluice: ${message}${code ? ` [${stripControlChars(code)}]` : ''}\n`);
  process.exitCode = code ? exitCodeOfCode(code) : EXIT.FAILURE;
}

/** A byte count for people: KiB below 10 MiB, MiB above; '-' when unknown. */
export function kib(n: number | undefined): string {
  if (typeof n !== 'number') return '-';
  return n >= 10 << 20 ? `${(n / (1 << 20)).toFixed(1)}MiB` : `${Math.round(n / 1024)}KiB`;
}

/** Left-aligned table for TTY-friendly output. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
