import { z } from 'zod';

/**
 * Names and ids that reach a file path, a storage key or a MAC: one character set,
 * no leading dot (so never `.` or `..`), no separators, bounded length.
 */
export const SAFE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export const safeNameSchema = z.string().regex(SAFE_NAME_RE, 'must be 1-128 of [A-Za-z0-9._-], not starting with . or -');

/** User names follow the ACL grammar of storage-api (`u:<user>:rwa`), which also allows `@`. */
export const userNameSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._@-]{0,127}$/, 'must be 1-128 of [A-Za-z0-9._@-], not starting with . - or @');
