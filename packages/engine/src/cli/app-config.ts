import { z } from 'zod';
import { EngineError } from '../errors.js';

/**
 * Well-known app config keys, checked at submit so a typo fails early with a friendly
 * message (the master validates again and enforces the cluster's limits).
 */
const wellKnown = {
  executors: z.number().int().min(1),
  checkpointIntervalMs: z.number().int().min(1),
  maxRestarts: z.number().int().min(0),
  stateBackend: z.enum(['heap', 'disk']),
  stateCacheEntries: z.number().int().min(16),
} as const;

const HINTS: Record<keyof typeof wellKnown, string> = {
  executors: 'an integer >= 1',
  checkpointIntervalMs: 'an integer >= 1 (milliseconds)',
  maxRestarts: 'an integer >= 0',
  stateBackend: "'heap' or 'disk'",
  stateCacheEntries: 'an integer >= 16 (entries the disk state backend keeps in memory)',
};

/** `--config k=v` values: JSON when they parse (numbers, booleans, objects), else strings. */
export function parseConfigPairs(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new EngineError('BAD_REQUEST', `--config expects key=value, got ${JSON.stringify(p)}`);
    const v = p.slice(i + 1);
    try {
      out[p.slice(0, i)] = JSON.parse(v);
    } catch {
      out[p.slice(0, i)] = v;
    }
  }
  return validateWellKnown(out);
}

/** Throws BAD_REQUEST (exit 2, the code the master answers for the same mistake) naming the key and what it takes; other keys pass through. */
export function validateWellKnown(cfg: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(wellKnown) as Array<keyof typeof wellKnown>) {
    if (!(key in cfg)) continue;
    if (!wellKnown[key].safeParse(cfg[key]).success) {
      throw new EngineError('BAD_REQUEST', `--config ${key}: expected ${HINTS[key]}, got ${JSON.stringify(cfg[key])}`, { details: { key } });
    }
  }
  return cfg;
}
