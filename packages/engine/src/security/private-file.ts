import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { atomicWriteFile } from '@sluice/storage-api';
import { EngineError } from '../errors.js';

/**
 * Files holding secrets (users file, cluster secret, tokens, credentials): written
 * atomically (temp file in the same folder, fsync, rename) with mode 0600, and refused
 * on read when group or others can read them.
 */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await atomicWriteFile(path, text, { mode: 0o600 });
}

/** Reads a secret-holding file; CONFIG_INVALID if group/world can read it (like ssh). */
export async function readPrivateFile(path: string, what: string): Promise<string> {
  const st = await stat(path);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new EngineError('CONFIG_INVALID', `${what} ${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`, { details: { path } });
  }
  return readFile(path, 'utf8');
}

export async function readPrivateFileIfExists(path: string, what: string): Promise<string | undefined> {
  try {
    return await readPrivateFile(path, what);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
