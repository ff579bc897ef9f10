import { pino, type Logger } from 'pino';
import { uniqueKeyHooks } from '../observability/unique-keys.js';
import { PINO_REDACT } from '../security/redact.js';

/**
 * Daemon and executor logs: JSON lines on stderr (workers route executor stderr to
 * files), or to SLUICE_LOG_FILE when set (the demo keeps the terminal clean that way).
 */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  const file = process.env.SLUICE_LOG_FILE;
  const dest = file ? pino.destination({ dest: file, mkdir: true, sync: false }) : pino.destination(2);
  return pino({ name, hooks: uniqueKeyHooks(), redact: PINO_REDACT, level: process.env.SLUICE_LOG_LEVEL ?? 'info', base: { pid: process.pid, ...bindings } }, dest);
}
