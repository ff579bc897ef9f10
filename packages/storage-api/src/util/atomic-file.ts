import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file so that `path` shows either the old content or the complete new one, and
 * the new one survives a crash once this resolves: write a temp file beside it, fsync,
 * rename, fsync the directory. A failure (or an iterable that throws, e.g. a failed
 * digest check) removes the temp file and leaves `path` untouched.
 */
export async function atomicWriteFile(path: string, body: Uint8Array | string | AsyncIterable<Uint8Array>, options: { mode?: number } = {}): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomUUID()}.tmp`);
  try {
    const fh = await open(tmp, 'wx', options.mode ?? 0o600);
    try {
      if (typeof body === 'string' || body instanceof Uint8Array) await fh.writeFile(body);
      else for await (const chunk of body) await fh.write(chunk);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // The rename lives in the directory: make it durable too (best effort where dirs cannot be opened).
  const dh = await open(dir, 'r').catch(() => undefined);
  if (dh) {
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}
