import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Unpack, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import { EngineError } from '../errors.js';

/** Bounds of one unpacked archive (a zip bomb or a tar with millions of entries stops at them). */
export interface ArchiveLimits {
  maxBytes: number;
  maxEntries: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxBytes: 4 * 1024 ** 3, maxEntries: 100_000 };

export type ArchiveKind = 'tar.gz' | 'zip';

const unsafe = (why: string, details: Record<string, unknown> = {}): EngineError => new EngineError('ARCHIVE_UNSAFE', `archive refused: ${why}`, { details });

/**
 * The safe relative path of an entry, or an ARCHIVE_UNSAFE error: no absolute paths (POSIX
 * or drive letters), no `..` segment, no NUL or backslash tricks. Checked before anything
 * is written, so an entry never lands outside the target.
 */
export function safeEntryPath(raw: string): string {
  if (raw.includes('\0') || raw.includes('\\')) throw unsafe(`entry ${JSON.stringify(raw)} has a NUL or backslash`, { entry: raw });
  if (isAbsolute(raw) || posix.isAbsolute(raw) || /^[A-Za-z]:/.test(raw)) throw unsafe(`entry ${JSON.stringify(raw)} is an absolute path`, { entry: raw });
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw unsafe(`entry ${JSON.stringify(raw)} leaves the target folder`, { entry: raw });
  return parts.join('/');
}

/** Which kind the bytes are (gzip magic 1f 8b, zip magic PK\x03\x04), else undefined. */
export function archiveKindOf(head: Uint8Array): ArchiveKind | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'zip';
  return undefined;
}

/**
 * Unpacks `archive` into `target` (which must not exist), all or nothing: entries go to a
 * sibling temp folder that is renamed into place only when every entry passed. Refused with
 * ARCHIVE_UNSAFE: traversal or absolute entries, symlinks, hard links and devices (a link
 * could point out of the target), more than `maxEntries` entries or `maxBytes` bytes.
 */
export async function unpackArchive(archive: string, kind: ArchiveKind, target: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<void> {
  const tmp = `${target}.unpack-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  try {
    if (kind === 'tar.gz') await unpackTarGz(archive, tmp, limits);
    else await unpackZip(archive, tmp, limits);
    await rename(tmp, target);
  } catch (err) {
    // Writes of entries accepted before the refusal may still be settling: retry (bounded).
    await rm(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    throw err;
  }
}

async function unpackTarGz(archive: string, dir: string, limits: ArchiveLimits): Promise<void> {
  let entries = 0;
  let bytes = 0;
  let refused: EngineError | undefined;
  const unpack = new Unpack({
    cwd: dir,
    strict: true,
    // The header sizes bound what is written (a tar's data length is its header's size).
    filter: (path: string, entry: unknown) => {
      if (refused) return false;
      const e = entry as ReadEntry;
      try {
        safeEntryPath(path);
        if (e.type !== 'File' && e.type !== 'OldFile' && e.type !== 'ContiguousFile' && e.type !== 'Directory') throw unsafe(`entry ${JSON.stringify(path)} is a ${e.type} (only files and folders are unpacked)`, { entry: path });
        if (++entries > limits.maxEntries) throw unsafe(`more than ${limits.maxEntries} entries`, { limit: limits.maxEntries });
        bytes += e.size ?? 0;
        if (bytes > limits.maxBytes) throw unsafe(`more than ${limits.maxBytes} bytes unpacked`, { limit: limits.maxBytes });
        return true;
      } catch (err) {
        refused = err as EngineError;
        // Stop reading now: the rest of a bomb is never inflated.
        unpack.abort(refused);
        return false;
      }
    },
    preservePaths: false,
    preserveOwner: false,
  });
  // Entry writes finish after the parse: 'close' is when the last one did (bounded wait).
  const closed = new Promise<void>((r) => {
    unpack.once('close', () => r());
    setTimeout(r, 10_000).unref();
  });
  try {
    await pipeline(createReadStream(archive), unpack);
    await closed;
  } catch (err) {
    await closed;
    if (refused) throw refused;
    throw unsafe(`not a readable .tar.gz: ${(err as Error).message}`);
  }
  if (refused) throw refused;
}

async function unpackZip(archive: string, dir: string, limits: ArchiveLimits): Promise<void> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    // validateEntrySizes: an entry that inflates past its declared size is an error (a lying bomb).
    yauzl.open(archive, { lazyEntries: true, validateEntrySizes: true, decodeStrings: true }, (err, z) => (err ? reject(unsafe(`not a readable .zip: ${err.message}`)) : resolve(z))),
  );
  try {
    if (zip.entryCount > limits.maxEntries) throw unsafe(`more than ${limits.maxEntries} entries`, { limit: limits.maxEntries });
    let bytes = 0;
    for (;;) {
      const entry = await new Promise<yauzl.Entry | undefined>((resolve, reject) => {
        const onEntry = (e: yauzl.Entry): void => { cleanup(); resolve(e); };
        const onEnd = (): void => { cleanup(); resolve(undefined); };
        const onError = (e: Error): void => { cleanup(); reject(unsafe(e.message)); };
        const cleanup = (): void => { zip.off('entry', onEntry); zip.off('end', onEnd); zip.off('error', onError); };
        zip.on('entry', onEntry).on('end', onEnd).on('error', onError);
        zip.readEntry();
      });
      if (!entry) return;
      const rel = safeEntryPath(entry.fileName);
      const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
      if (mode !== 0 && mode !== 0o100000 && mode !== 0o040000) throw unsafe(`entry ${JSON.stringify(entry.fileName)} is not a file or folder (mode ${mode.toString(8)})`, { entry: entry.fileName });
      const isDir = entry.fileName.endsWith('/') || mode === 0o040000;
      if (rel === '') continue;
      const out = join(dir, rel);
      if (isDir) {
        await mkdir(out, { recursive: true });
        continue;
      }
      bytes += entry.uncompressedSize;
      if (bytes > limits.maxBytes) throw unsafe(`more than ${limits.maxBytes} bytes unpacked`, { limit: limits.maxBytes });
      await mkdir(dirname(out), { recursive: true });
      const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => zip.openReadStream(entry, (err, s) => (err ? reject(unsafe(err.message)) : resolve(s))));
      try {
        await pipeline(stream, createWriteStream(out, { flags: 'wx', mode: 0o600 }));
      } catch (err) {
        throw err instanceof EngineError ? err : unsafe(`entry ${JSON.stringify(entry.fileName)}: ${(err as Error).message}`, { entry: entry.fileName });
      }
    }
  } finally {
    zip.close();
  }
}
