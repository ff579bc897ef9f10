import { LIMITS, type LogLevel, type LogRecord } from '@sluice/storage-api';

/** Pino's numeric levels → the store's level names (pino's defaults). */
const LEVEL_NAMES: Record<number, LogLevel> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Bindings that become indexed labels; everything else goes to `fields`. */
export const DEFAULT_LABEL_KEYS: readonly string[] = ['app', 'executor', 'processor', 'task', 'host', 'worker', 'component'];

/** Pino adds these; the store has ts/level/msg already and pid/hostname are not useful per line. */
const DROPPED_KEYS = new Set(['time', 'level', 'msg', 'pid', 'hostname']);

/** A value as text: objects as JSON (never `[object Object]`). */
function text(v: unknown): string {
  if (typeof v !== 'object' || v === null || v instanceof Error) return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

export function levelName(n: number): LogLevel {
  if (LEVEL_NAMES[n]) return LEVEL_NAMES[n];
  // Custom pino levels: round down to the nearest known one.
  if (n >= 60) return 'fatal';
  if (n < 20) return 'trace';
  return LEVEL_NAMES[Math.floor(n / 10) * 10] ?? 'info';
}

/**
 * Turns one pino JSON line into a LogRecord that fits the store's limits (too many or too
 * long labels, or an oversized record, would make the whole batch fail: trim here instead).
 * Returns undefined for a line that is not a JSON object.
 */
export function pinoLineToRecord(line: string, labelKeys: ReadonlySet<string>): LogRecord | undefined {
  let obj: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    obj = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const labels: Record<string, string> = {};
  let fields: Record<string, unknown> | undefined;
  let nLabels = 0;
  for (const k in obj) {
    if (DROPPED_KEYS.has(k)) continue;
    const v = obj[k];
    if (labelKeys.has(k) && v !== undefined && v !== null && nLabels < LIMITS.maxLabels) {
      labels[k] = text(v).slice(0, LIMITS.labelValueLength);
      nLabels++;
    } else {
      (fields ??= {})[k] = v;
    }
  }
  const ts = typeof obj.time === 'number' ? obj.time : Date.now();
  const level = levelName(typeof obj.level === 'number' ? obj.level : 30);
  const msg = typeof obj.msg === 'string' ? obj.msg : obj.msg === undefined ? '' : text(obj.msg);
  const rec: LogRecord = fields ? { ts, level, msg, labels, fields } : { ts, level, msg, labels };
  return fitRecord(rec, line.length);
}

/** Keeps a record under LIMITS.logRecordBytes (serialised); `approxBytes` avoids re-serialising small ones. */
export function fitRecord(rec: LogRecord, approxBytes?: number): LogRecord {
  const budget = LIMITS.logRecordBytes - 1024; // headroom for labels and JSON framing
  const size = approxBytes ?? JSON.stringify(rec).length;
  if (size * 3 < budget) return rec; // even all-multibyte text fits
  const serialized = Buffer.byteLength(JSON.stringify(rec));
  if (serialized <= budget) return rec;
  const out: LogRecord = { ...rec, msg: rec.msg };
  if (rec.fields) {
    const f = JSON.stringify(rec.fields);
    out.fields = { truncatedFields: f.slice(0, Math.max(0, Math.floor(budget / 8))) };
  }
  const rest = Buffer.byteLength(JSON.stringify({ ...out, msg: '' }));
  const msgBudget = Math.max(0, Math.floor((budget - rest) / 4)); // chars, assuming ≤4 bytes each
  if (out.msg.length > msgBudget) out.msg = out.msg.slice(0, msgBudget) + '…[truncated]';
  return out;
}
