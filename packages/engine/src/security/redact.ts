/**
 * Secrets never leak: one definition of what looks like a credential, used by every
 * logger (pino `redact`), by `storage plan` output and by error text.
 */

/** Option / field names that hold credentials (matched case-insensitively, ignoring `_`/`-`). */
const SECRET_KEY_RE = /(pass(word|wd)?|secret|token|credential|apikey|accesskey|privatekey|sessionkey|authorization|cookie|signature)/i;

export const REDACTED = '[REDACTED]';

/** True for keys like `secretAccessKey`, `password`, `AWS_SESSION_TOKEN`, `authorization`. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY_RE.test(key.replace(/[-_]/g, ''));
}

/** `scheme://user:pass@host` -> `scheme://user:[REDACTED]@host` (also bare `user:pass@` in URLs). */
export function redactUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/:@]+):([^\s/@]+)@/gi, `$1$2:${REDACTED}@`);
}

/** Bound on nesting so a cyclic or hostile value cannot recurse forever. */
const MAX_DEPTH = 32;

/**
 * A deep copy of `value` with credential-looking keys replaced by `[REDACTED]` and
 * `user:pass@` removed from every string. Safe on cycles (they become `[Circular]`).
 */
export function redactSecrets<T>(value: T): T {
  return walk(value, 0, new WeakSet()) as T;
}

function walk(v: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof v === 'string') return redactUrlCredentials(v);
  if (v === null || typeof v !== 'object') return v;
  if (depth >= MAX_DEPTH) return '[Truncated]';
  if (seen.has(v)) return '[Circular]';
  seen.add(v);
  if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1, seen));
  if (v instanceof Error) {
    const out: Record<string, unknown> = { name: v.name, message: redactUrlCredentials(v.message) };
    for (const [k, x] of Object.entries(v)) out[k] = isSecretKey(k) ? REDACTED : walk(x, depth + 1, seen);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = isSecretKey(k) && x !== undefined && x !== null ? REDACTED : walk(x, depth + 1, seen);
  return out;
}

/** A message with URL credentials removed (for error messages built from options). */
export function redactMessage(message: string): string {
  return redactUrlCredentials(message);
}

/**
 * Strips terminal control characters (ESC sequences, BEL, backspace, C1 controls) from
 * text that came from a remote peer before it is printed; keeps tab and newline.
 */
export function stripControlChars(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
}

/** Key names pino redacts at depths 0-3 (pino's paths do not recurse; deeper objects go through redactSecrets). */
const REDACT_KEYS = [
  'password', 'passwd', 'secret', 'token', 'authorization', 'cookie', 'credentials',
  'secretAccessKey', 'accessKeyId', 'sessionToken', 'apiKey', 'privateKey', 'clusterSecret',
];

/**
 * The `redact` option every pino logger in Sluice uses (createLogger, createAppLogger).
 * pino's redaction is path-based (fast-redact), so known credential keys are listed at
 * depths 0-3 plus the Authorization header.
 */
export const PINO_REDACT = {
  paths: [
    ...REDACT_KEYS,
    ...REDACT_KEYS.map((k) => `*.${k}`),
    ...REDACT_KEYS.map((k) => `*.*.${k}`),
    // storage.<route>.options.<key>: a logged cluster config.
    ...REDACT_KEYS.map((k) => `*.*.*.${k}`),
    'req.headers.authorization',
    'headers.authorization',
    'headers["x-sluice-token"]',
  ],
  censor: REDACTED,
};
