import { symbols, type LoggerOptions } from 'pino';

/** Keys pino writes itself on every line; a logged object cannot take them over. */
const CORE_KEYS = new Set(['level', 'time', 'msg']);

type Bindings = Record<string, unknown>;
const boundCache = new WeakMap<object, Bindings>();

/** Everything the logger writes before the logged object (pino's bindings() hides pid and hostname). */
function boundOf(logger: object): Bindings {
  let b = boundCache.get(logger);
  if (!b) {
    const chindings = (logger as Record<symbol, unknown>)[symbols.chindingsSym];
    try {
      b = typeof chindings === 'string' && chindings.length > 1 ? (JSON.parse(`{${chindings.slice(1)}}`) as Bindings) : {};
    } catch {
      b = {};
    }
    boundCache.set(logger, b);
  }
  return b;
}

/**
 * Pino hooks that keep every line free of duplicate keys. Pino writes a logger's
 * bindings and then the logged object, so `child({epoch}).info({epoch})` gives a line
 * with two `epoch` keys (readers disagree about which one counts). Here:
 * - a logged key equal to a binding is dropped;
 * - a logged key that differs from a binding wins (what JSON.parse already does, and
 *   what pino intends): the line is re-serialised once, without the duplicate;
 * - a logged `level`, `time` or `msg` (pino's own keys) is kept as `_level`, `_time`, `_msg`.
 * Lines without a collision cost one Set lookup per logged key.
 */
export function uniqueKeyHooks(): NonNullable<LoggerOptions['hooks']> {
  let rewrite = false;
  return {
    logMethod(args, method) {
      const first: unknown = args[0];
      if (first !== null && typeof first === 'object' && !(first instanceof Error) && !Array.isArray(first)) {
        const bound = boundOf(this);
        let copy: Record<string, unknown> | undefined;
        for (const k of Object.keys(first)) {
          const v = (first as Record<string, unknown>)[k];
          if (CORE_KEYS.has(k) && (k !== 'msg' || typeof args[1] === 'string')) {
            copy ??= { ...(first as Record<string, unknown>) };
            delete copy[k];
            copy[`_${k}`] = v;
          } else if (Object.hasOwn(bound, k)) {
            if (bound[k] === v) {
              copy ??= { ...(first as Record<string, unknown>) };
              delete copy[k];
            } else {
              rewrite = true;
            }
          }
        }
        if (copy) (args as unknown[])[0] = copy;
      }
      try {
        method.apply(this, args);
      } finally {
        rewrite = false;
      }
    },
    streamWrite(line) {
      if (!rewrite) return line;
      rewrite = false;
      try {
        // JSON.parse keeps the last of duplicate keys (the logged value), at the first one's place.
        return `${JSON.stringify(JSON.parse(line))}\n`;
      } catch {
        return line;
      }
    },
  };
}
