import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Who a token belongs to; undefined for an unknown token. */
export type Authenticate = (token: string) => Promise<{ user: string } | undefined>;
/** May `user` read ('r') or change ('w') app `appId`? */
export type Authorize = (user: string, appId: string, perm: 'r' | 'w') => Promise<boolean>;

export const SESSION_COOKIE = 'sluice_session';
/** Header the dashboard sends on state-changing calls; a cross-site form cannot set it. */
export const CSRF_HEADER = 'x-sluice-ui';
/** A dashboard session lives this long without a new login. */
export const DEFAULT_SESSION_TTL_MS = 8 * 3_600_000;
/** Cap on live sessions, so a login loop cannot grow memory without bound. */
const MAX_SESSIONS = 10_000;

interface Session {
  user: string;
  /** Kept server-side only, to call the master's own API on the user's behalf. */
  token: string;
  expiresAt: number;
}

/** In-memory sessions: a random id (the HttpOnly cookie) → user, with expiry. */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  constructor(private readonly ttlMs = DEFAULT_SESSION_TTL_MS, private readonly now: () => number = Date.now) {}

  create(user: string, token: string): { id: string; maxAgeSeconds: number } {
    this.#sweep();
    if (this.#sessions.size >= MAX_SESSIONS) {
      // Drop the oldest (Map keeps insertion order).
      const first = this.#sessions.keys().next().value;
      if (first !== undefined) this.#sessions.delete(first);
    }
    const id = randomBytes(32).toString('base64url');
    this.#sessions.set(id, { user, token, expiresAt: this.now() + this.ttlMs });
    return { id, maxAgeSeconds: Math.floor(this.ttlMs / 1000) };
  }

  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return s;
  }

  delete(id: string | undefined): void {
    if (id) this.#sessions.delete(id);
  }

  get size(): number {
    return this.#sessions.size;
  }

  #sweep(): void {
    const now = this.now();
    for (const [id, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(id);
  }
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    try {
      out[k] = decodeURIComponent(v);
    } catch {
      out[k] = v;
    }
  }
  return out;
}

export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m ? m[1] : undefined;
}

export function sessionCookie(id: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/**
 * Cross-site protection for state-changing requests: the custom header (which a
 * cross-site form or simple request cannot set without a CORS preflight we never grant),
 * and, when the browser sends one, an Origin equal to this host.
 */
export function isSameOriginWrite(req: IncomingMessage): boolean {
  if (req.headers[CSRF_HEADER] !== '1') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
