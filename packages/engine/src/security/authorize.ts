import { hasAccess, parseAclEntry, type Permission } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import type { Principal } from './principal.js';

export type { Permission };

/**
 * What each permission covers on an app (Storm's `u:<user>:rwa`, `o::rwa` grammar):
 * r = status, logs, metrics, artifact download; w = kill, per-processor config;
 * a = ACL changes, delete. The owner (the authenticated submitter), superusers and
 * users-file admins hold all three.
 */
export const PERMISSION_MEANING: Record<Permission, string> = {
  r: 'read (status, logs, metrics, artifact)',
  w: 'write (kill, per-processor config)',
  a: 'admin (ACL changes, delete)',
};

export interface AppAccess {
  appId: string;
  owner: string;
  acl: readonly string[];
}

export interface AuthorizeOptions {
  superusers?: readonly string[];
}

/** True when the principal may use `perm` on the app. Daemons only on their own app. */
export function authorize(p: Principal, app: AppAccess, perm: Permission, options: AuthorizeOptions = {}): boolean {
  switch (p.kind) {
    case 'anonymous':
      return false;
    case 'worker':
      return false;
    case 'appDaemon':
      return p.appId === app.appId;
    case 'user':
      if (p.admin) return true;
      return hasAccess({ owner: app.owner, acl: [...app.acl] }, p.name, perm, { superusers: options.superusers ?? [] });
  }
}

/** Throws UNAUTHENTICATED (anonymous) or FORBIDDEN; the message names the missing permission. */
export function assertAuthorized(p: Principal, app: AppAccess, perm: Permission, options: AuthorizeOptions = {}): void {
  if (authorize(p, app, perm, options)) return;
  if (p.kind === 'anonymous') throw new EngineError('UNAUTHENTICATED', 'missing or invalid credentials');
  const who = p.kind === 'user' ? `user ${p.name}` : p.kind;
  throw new EngineError('FORBIDDEN', `${who} has no ${PERMISSION_MEANING[perm]} access to app ${app.appId}`, { details: { appId: app.appId, perm } });
}

/** `GET /apps`: only the apps the caller may read. */
export function filterReadable<T extends AppAccess>(p: Principal, apps: Iterable<T>, options: AuthorizeOptions = {}): T[] {
  return [...apps].filter((a) => authorize(p, a, 'r', options));
}

/** Parses `u:bob:r,o::` (the `--acl` flag) into validated entries; BAD_REQUEST on a bad entry. */
export function parseAclFlag(text: string): string[] {
  // `o::` (no permissions) is written `o::-` in storage-api's grammar.
  const entries = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => (s.endsWith(':') ? `${s}-` : s));
  for (const e of entries) {
    try {
      parseAclEntry(e);
    } catch (err) {
      throw new EngineError('BAD_REQUEST', (err as Error).message, { cause: err });
    }
  }
  return entries;
}
