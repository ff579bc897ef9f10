import type { DaemonRole } from './tokens.js';

/** Who made a request, as the router's auth hook established it. */
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; name: string; admin: boolean }
  | { kind: 'worker' }
  | { kind: 'appDaemon'; role: DaemonRole; appId: string; epoch: number };

/** What a route accepts. `appDaemon` routes must have an `:id` param (the app id). */
export type RouteKind = 'public' | 'user' | 'worker' | 'appDaemon';

export const ROUTE_KINDS: readonly RouteKind[] = ['public', 'user', 'worker', 'appDaemon'];

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

/** The principal when auth is explicitly off: everyone is the local admin. */
export const AUTH_OFF_PRINCIPAL: Principal = Object.freeze({ kind: 'user', name: 'anonymous', admin: true });

/** A short label for logs and audit lines. */
export function principalLabel(p: Principal): string {
  switch (p.kind) {
    case 'anonymous':
      return 'anonymous';
    case 'user':
      return `user:${p.name}`;
    case 'worker':
      return 'worker';
    case 'appDaemon':
      return `${p.role}:${p.appId}@${p.epoch}`;
  }
}
