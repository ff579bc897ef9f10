import type { IncomingMessage } from 'node:http';
import { EngineError } from '../errors.js';
import { ANONYMOUS, AUTH_OFF_PRINCIPAL, type Principal, type RouteKind } from './principal.js';
import { tokenDigest, verifyDaemonToken } from './tokens.js';
import type { UsersRegistry } from './users-file.js';

/** Authenticates a request; never throws for bad credentials (that is `anonymous`). */
export type Authenticate = (req: IncomingMessage) => Promise<Principal>;

export interface AuthenticatorOptions {
  users: UsersRegistry;
  clusterSecret: Buffer;
}

/** The bearer token of a request, or undefined. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/.exec(h.trim());
  return m?.[1];
}

/** Bearer tokens: daemon tokens (HMAC, cheap) first, then users-file tokens (scrypt, cached). */
export function createAuthenticator(opts: AuthenticatorOptions): Authenticate {
  return async (req) => {
    const token = bearerOf(req);
    if (!token) return ANONYMOUS;
    const daemon = verifyDaemonToken(opts.clusterSecret, token);
    if (daemon) return daemon;
    const digest = tokenDigest(token);
    const user = opts.users.cached(digest) ?? (await opts.users.verify(token, digest));
    return user ? { kind: 'user', name: user.name, admin: user.admin } : ANONYMOUS;
  };
}

/** Auth explicitly off (`auth.enabled: false`): every caller is treated as the local admin. */
export const authOff: Authenticate = async () => AUTH_OFF_PRINCIPAL;

/**
 * The router's gate: may this principal call a route of this kind? 401 when no valid
 * credential was presented, 403 when a valid one is of the wrong kind or app.
 * Users may not call daemon routes; daemons may not call user routes.
 */
export function checkRouteKind(kind: RouteKind, p: Principal, params: Record<string, string>, appDaemonRoles?: readonly string[]): void {
  if (kind === 'public') return;
  if (p.kind === 'anonymous') throw new EngineError('UNAUTHENTICATED', 'missing or invalid credentials: send Authorization: Bearer <token>');
  // Auth-off principal is a user admin: it may also act as a daemon (single-user loopback cluster).
  if (p === AUTH_OFF_PRINCIPAL) return;
  if (kind === 'user') {
    if (p.kind !== 'user') throw new EngineError('FORBIDDEN', `a ${p.kind} credential cannot call user routes`);
    return;
  }
  if (kind === 'worker') {
    if (p.kind !== 'worker') throw new EngineError('FORBIDDEN', 'only workers (cluster secret) may call this route');
    return;
  }
  if (p.kind !== 'appDaemon') throw new EngineError('FORBIDDEN', "only the app's AppMaster or executors may call this route");
  if (params.id !== p.appId) throw new EngineError('FORBIDDEN', `this token is scoped to app ${p.appId}`);
  if (appDaemonRoles && !appDaemonRoles.includes(p.role)) throw new EngineError('FORBIDDEN', `a ${p.role} token cannot call this route`);
}

/** Daemon bodies carry the epoch they act for; it must be the one their token was minted for. */
export function assertDaemonEpoch(p: Principal, epoch: number): void {
  if (p.kind === 'appDaemon' && p.epoch !== epoch) throw new EngineError('FORBIDDEN', `token is for epoch ${p.epoch}, request says ${epoch}`);
}
