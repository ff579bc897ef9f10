import { ObservabilityError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `500ms`, `10s`, `5m`, `2h`, `1d` → ms. */
export function parseDuration(s: string, what = 'duration'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(s.trim());
  if (!m) throw new ObservabilityError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(s)}: use e.g. 500ms, 10s, 5m, 2h, 1d`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/**
 * A point in time from the command line: a duration ago (`10m`), epoch ms (`1732370000000`)
 * or an ISO-8601 date (`2026-11-23T15:00:00Z`).
 */
export function parseTimeArg(s: string, now: number, what = 'time'): number {
  const t = s.trim();
  if (/^\d+(?:\.\d+)?(ms|s|m|h|d|w)$/.test(t)) return now - parseDuration(t, what);
  if (/^\d{10,}$/.test(t)) return Number(t);
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms)) return ms;
  }
  throw new ObservabilityError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(s)}: use a duration ago (10m), epoch ms or an ISO date`);
}

export function parsePositiveInt(s: string | number, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof s === 'number' ? s : /^\d+$/.test(s.trim()) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0 || n > max) throw new ObservabilityError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(String(s))}: a whole number from 1 to ${max}`);
  return n;
}
