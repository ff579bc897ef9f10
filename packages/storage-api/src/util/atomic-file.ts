import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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
    if (typeof body === 'string' || body instanceof Uint8Array) {
      await writeFile(tmp, body, { flag: 'wx', mode: options.mode ?? 0o600 });
    } else {
      // A stream pipeline reads ahead of the disk: an HTTP body is drained promptly (undici
      // asserts when a server closes a connection whose response body sits paused).
      await pipeline(Readable.from(body), createWriteStream(tmp, { flags: 'wx', mode: options.mode ?? 0o600 }));
    }
    const fh = await open(tmp, 'r+');
    try {
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
