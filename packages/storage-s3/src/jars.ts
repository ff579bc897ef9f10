import { randomUUID } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import {
  HashingCounter, StorageError, isStorageError, iterateBytes, verifyingStream, type AppMeta, type BackendJarStore, type ByteSource,
  type JarInfo, type OpOptions, type TransferOptions,
} from '@sluice/storage-api';
import { checkJarDigest, checkJarReplaceable, jarNotFoundError } from '@sluice/storage-api';
import { mapLimit } from './keys.js';
import type { Shared } from './shared.js';
import { streamUpload, type UploadSettings } from './stream-upload.js';

interface NameRecord extends JarInfo {
  /** The data object this name points at (content addressed through the digest record). */
  dataKey: string;
}

interface DigestRecord {
  sha256: string;
  size: number;
  dataKey: string;
}

export interface JarSettings extends UploadSettings {
  /** Data objects nothing points at are removed by collectGarbage once this old. */
  graceMs: number;
}

/**
 * Content goes to a fresh `data/<uuid>` key while it is hashed; then a digest record
 * (create-only: dedupes identical content) and finally the name record, a small PUT that
 * is the atomic switch. A reader never sees a name before its bytes are complete.
 */
export class S3JarStore implements BackendJarStore {
  constructor(
    private readonly sh: Shared,
    private readonly dir: string,
    private readonly settings: JarSettings,
    private readonly meta: (signal?: AbortSignal) => Promise<AppMeta>,
  ) {}

  #nameKey(name: string): string {
    return `${this.dir}names/${name}.json`;
  }

  async put(name: string, source: ByteSource, options: TransferOptions = {}): Promise<JarInfo> {
    const { signal } = options;
    const dataKey = `${this.dir}data/${randomUUID()}`;
    const counter = new HashingCounter(options.onProgress, options.size);
    const chunks = counter.wrap(iterateBytes(source, signal))[Symbol.asyncIterator]();
    let uploaded = false;
    try {
      uploaded = true;
      await streamUpload(this.sh, this.settings, dataKey, chunks, signal);
      const { sha256, size } = counter.result();
      checkJarDigest(name, sha256, options.expectedSha256);
      await this.#assertNotInUse(name, signal);
      const target = await this.#dedupe(sha256, size, dataKey, signal);
      const info: NameRecord = { name, sha256, size, createdAt: this.sh.context.now(), dataKey: target };
      await this.sh.io.put(this.#nameKey(name), JSON.stringify(info), signal);
      if (target !== dataKey) await this.sh.io.delete(dataKey).catch(() => undefined);
      return { name, sha256, size, createdAt: info.createdAt };
    } catch (err) {
      if (uploaded) await this.sh.io.delete(dataKey).catch(() => undefined);
      throw err;
    }
  }

  async #dedupe(sha256: string, size: number, dataKey: string, signal?: AbortSignal): Promise<string> {
    const key = `${this.dir}digests/${sha256}.json`;
    const cur = await this.sh.io.getJson<DigestRecord>(key, signal);
    if (cur && (await this.sh.io.head(cur.value.dataKey, signal))) return cur.value.dataKey;
    const rec: DigestRecord = { sha256, size, dataKey };
    if (cur) {
      await this.sh.io.put(key, JSON.stringify(rec), signal); // dangling record: repair it
      return dataKey;
    }
    const r = await this.sh.io.putIfAbsent(key, JSON.stringify(rec), signal);
    if (r.created) return dataKey;
    const winner = await this.sh.io.getJson<DigestRecord>(key, signal);
    return winner?.value.dataKey ?? dataKey;
  }

  async #assertNotInUse(name: string, signal?: AbortSignal): Promise<void> {
    checkJarReplaceable(await this.meta(signal), name);
  }

  async #record(name: string, signal?: AbortSignal): Promise<NameRecord | undefined> {
    return (await this.sh.io.getJson<NameRecord>(this.#nameKey(name), signal))?.value;
  }

  async get(name: string, options: TransferOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const rec = await this.#record(name, options.signal);
    if (!rec) throw jarNotFoundError(name);
    let out: { Body?: AsyncIterable<Uint8Array> };
    try {
      out = await this.sh.io.send<{ Body?: AsyncIterable<Uint8Array> }>(
        new GetObjectCommand({ Bucket: this.sh.io.bucket, Key: rec.dataKey }),
        `GET jar ${name}`,
        options.signal,
      );
    } catch (err) {
      if (isStorageError(err, 'STORAGE_NOT_FOUND')) {
        throw new StorageError(`jar ${name}: its data object ${rec.dataKey} is missing`, { code: 'STORAGE_CORRUPT', cause: err });
      }
      throw err;
    }
    const body = out.Body ?? (async function* () {})();
    const watched = idleTimeout(body, this.sh.io.settings.requestTimeoutMs, `GET jar ${name}`);
    return verifyingStream(watched, { sha256: rec.sha256, size: rec.size, what: `jar ${name}` }, options);
  }

  async stat(name: string, o: OpOptions = {}): Promise<JarInfo | undefined> {
    const r = await this.#record(name, o.signal);
    return r && { name: r.name, sha256: r.sha256, size: r.size, createdAt: r.createdAt };
  }

  async list(o: OpOptions = {}): Promise<JarInfo[]> {
    const keys = await this.sh.io.listKeys(`${this.dir}names/`, o.signal);
    const recs = await mapLimit(keys, 8, async (k) => (await this.sh.io.getJson<NameRecord>(k, o.signal))?.value);
    return recs
      .filter((r): r is NameRecord => r !== undefined)
      .map((r) => ({ name: r.name, sha256: r.sha256, size: r.size, createdAt: r.createdAt }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Removes the name only: shared content goes in collectGarbage (a concurrent put may dedupe onto it). */
  async delete(name: string, o: OpOptions = {}): Promise<void> {
    const rec = await this.#record(name, o.signal);
    if (!rec) throw jarNotFoundError(name);
    await this.#assertNotInUse(name, o.signal);
    await this.sh.io.delete(this.#nameKey(name), o.signal);
  }

  /** Deletes digest records and data objects no name points at, older than the grace period. */
  async collectGarbage(signal?: AbortSignal): Promise<number> {
    return (await this.garbage({ signal })).length;
  }

  /** Digest records and data objects no name points at, older than the grace period; deleted unless dryRun. */
  async garbage(o: { signal?: AbortSignal; dryRun?: boolean } = {}): Promise<string[]> {
    const { signal } = o;
    const names = await this.sh.io.listKeys(`${this.dir}names/`, signal);
    const used = new Set((await mapLimit(names, 8, async (k) => (await this.sh.io.getJson<NameRecord>(k, signal))?.value.dataKey)).filter(Boolean));
    const cutoff = Date.now() - this.settings.graceMs;
    const old = (k: { lastModified?: Date }): boolean => (k.lastModified?.getTime() ?? Date.now()) < cutoff;
    const doomed: string[] = [];
    for (const d of (await this.sh.io.list(`${this.dir}digests/`, { signal })).keys) {
      const rec = (await this.sh.io.getJson<DigestRecord>(d.key, signal))?.value;
      if (rec && !used.has(rec.dataKey) && old(d)) doomed.push(d.key);
    }
    if (!o.dryRun) await this.sh.io.deleteMany(doomed, signal);
    const data = (await this.sh.io.list(`${this.dir}data/`, { signal })).keys.filter((k) => !used.has(k.key) && old(k)).map((k) => k.key);
    if (!o.dryRun) await this.sh.io.deleteMany(data, signal);
    return [...doomed, ...data];
  }
}

/** A body that stalls longer than `ms` between chunks ends with STORAGE_TIMEOUT (and is destroyed). */
export async function* idleTimeout(src: AsyncIterable<Uint8Array>, ms: number, what: string): AsyncIterable<Uint8Array> {
  const it = src[Symbol.asyncIterator]();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StorageError(`${what}: no data for ${ms} ms`, { code: 'STORAGE_TIMEOUT' })), ms);
      });
      let n: IteratorResult<Uint8Array>;
      try {
        n = await Promise.race([it.next(), stalled]);
      } finally {
        clearTimeout(timer);
      }
      if (n.done) return;
      yield n.value;
    }
  } finally {
    (src as { destroy?: () => void }).destroy?.();
  }
}
