import { EXIT_CODES } from '../errors.js';

/** The reader of our output went away (`sluice … | head -1`). */
export function isClosedPipe(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'EPIPE';
}

/**
 * Output to a closed pipe ends the process quietly with the exit code so far, instead of
 * an unhandled 'error' event and a stack trace: nobody is left to read anything more.
 */
export function exitQuietlyOnClosedPipe(): void {
  const onError = (err: unknown): void => {
    if (!isClosedPipe(err)) throw err;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT_CODES.OK);
  };
  process.stdout.on('error', onError);
  process.stderr.on('error', onError);
}
