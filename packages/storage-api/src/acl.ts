import { StorageError } from './errors.js';
import type { AppMeta } from './types.js';

/** r = read (logs, metrics, jar download), w = write (config, kill, upload), a = admin (ACL, delete). */
export type Permission = 'r' | 'w' | 'a';

export type AclEntry = { type: 'user'; name: string; perms: Set<Permission> } | { type: 'other'; perms: Set<Permission> };

const ENTRY_RE = /^(u:([A-Za-z0-9_][A-Za-z0-9._@-]*)|o:):([rwa-]{1,3})$/;

/** Parses Storm-blobstore style entries: `u:alice:rwa`, `u:bob:r--`, `o::r`. */
export function parseAclEntry(entry: string): AclEntry {
  const m = typeof entry === 'string' ? ENTRY_RE.exec(entry) : null;
  if (!m) {
    throw new StorageError(`invalid ACL entry ${JSON.stringify(entry)}: expected u:<user>:<rwa> or o::<rwa>`, { code: 'STORAGE_INVALID_ARGUMENT' });
  }
  const perms = new Set([...m[3]!].filter((c): c is Permission => c === 'r' || c === 'w' || c === 'a'));
  return m[2] ? { type: 'user', name: m[2], perms } : { type: 'other', perms };
}

export function validateAclEntries(entries: unknown): string[] {
  if (!Array.isArray(entries)) throw new StorageError('acl must be an array of entries', { code: 'STORAGE_INVALID_ARGUMENT' });
  for (const e of entries) parseAclEntry(e as string);
  return entries as string[];
}

export interface AccessOptions {
  /** Cluster administrators: always allowed. */
  superusers?: readonly string[];
}

/**
 * The check daemons call before serving an app's data. The owner and superusers have
 * every permission; otherwise a user entry wins over the `o::` entry.
 */
export function hasAccess(meta: Pick<AppMeta, 'owner' | 'acl'>, user: string, perm: Permission, options: AccessOptions = {}): boolean {
  if (user === meta.owner || options.superusers?.includes(user)) return true;
  const entries = meta.acl.map(parseAclEntry);
  const mine = entries.find((e) => e.type === 'user' && e.name === user);
  if (mine) return mine.perms.has(perm);
  return entries.some((e) => e.type === 'other' && e.perms.has(perm));
}

export function assertAccess(meta: Pick<AppMeta, 'owner' | 'acl' | 'appId'>, user: string, perm: Permission, options: AccessOptions = {}): void {
  if (!hasAccess(meta, user, perm, options)) {
    const word = perm === 'r' ? 'read' : perm === 'w' ? 'write' : 'admin';
    throw new StorageError(`user ${user} has no ${word} access to app ${meta.appId}`, {
      code: 'STORAGE_PERMISSION_DENIED',
      details: { user, perm, appId: meta.appId },
    });
  }
}
