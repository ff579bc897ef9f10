import { EXIT_CODES, exitCodeOfCode } from '../errors.js';
import { HttpError } from '../cluster/http.js';
import { redactMessage, stripControlChars } from '../security/redact.js';

export { EXIT_CODES };

/** The exit code for any error: the engine's one table (errors.ts) decides. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof HttpError) return exitCodeOfCode(err.code);
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? exitCodeOfCode(code) : EXIT_CODES.FAILURE;
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

/**
 * For one-shot probes of hosts that may be dead (`sluice masters`): ends the process soon
 * after its report is out. A TCP connect to a silent host, left pending inside grpc or fetch
 * after its call timed out, would otherwise hold the process for seconds (undici#4405).
 */
export function exitSoon(afterMs = 200): void {
  setTimeout(() => process.stdout.write('', () => process.exit()), afterMs).unref();
}
