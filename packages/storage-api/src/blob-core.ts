/**
 * The blob policy over a backend's primitives: validation, versions, compare-and-set,
 * retention and verify-on-read, written once so every backend behaves the same.
 *
 * State of a blob = its highest record. A write reads record N, streams the content to a
 * new ref, then creates record N+1 exclusively; losing that race is a version conflict
 * (or, for an unconditional update, a re-read and retry). Delete writes a tombstone record
 * (kept, so a stale writer's N+1 still collides) and then removes content and old records.
 */
import type { ByteSource, OpOptions, StorageLogger } from './types.js';
import type { BlobBackend, BlobCreateOptions, BlobMeta, BlobReadOptions, BlobStore, BlobUpdateOptions, BlobVersionInfo } from './blobs.js';
import { DEFAULT_BLOB_KEEP, MAX_BLOB_KEEP, validateBlobName } from './blobs.js';
import { StorageError, isStorageError, throwIfAborted, toStorageError } from './errors.js';
import { HashingCounter, iterateBytes, verifyingStream } from './util/bytes.js';
import { validateAclEntries } from './acl.js';
import { validateName } from './names.js';
import { LIMITS } from './limits.js';

interface StoredVersion extends BlobVersionInfo {
  ref: string;
}

interface BlobRecord {
  seq: number;
  name: string;
  deleted?: true;
  owner: string;
  acl: string[];
  labels: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  keep: number;
  versions: StoredVersion[];
}

/** Re-reads after losing a record race; each loser re-reads once, so a few suffice. */
const MAX_RACE_RETRIES = 20;
/** Re-reads when the newest record vanished under us (retention cleaned it). */
const MAX_READ_RETRIES = 5;

export interface BlobCoreOptions {
  now: () => number;
  logger?: StorageLogger;
  /** Throws STORAGE_CLOSED once the owning Storage is closed. */
  check?: () => void;
}

function invalid(message: string): StorageError {
  return new StorageError(message, { code: 'STORAGE_INVALID_ARGUMENT' });
}

function checkLabels(labels: unknown): Record<string, string> {
  if (labels === undefined) return {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) throw invalid('blob labels must be an object');
  const entries = Object.entries(labels);
  if (entries.length > LIMITS.maxLabels) throw invalid(`blob has more than ${LIMITS.maxLabels} labels`);
  for (const [k, v] of entries) {
    if (typeof v !== 'string' || v.length > LIMITS.labelValueLength || k.length > LIMITS.labelValueLength) throw invalid(`blob label ${k} must be a string of at most ${LIMITS.labelValueLength} characters`);
  }
  return { ...(labels as Record<string, string>) };
}

function checkVersion(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`${what} must be a non-negative integer, got ${JSON.stringify(v) ?? typeof v}`);
  return v;
}

function publicMeta(r: BlobRecord): BlobMeta {
  const cur = r.versions[r.versions.length - 1]!;
  return {
    name: r.name, version: cur.version, sha256: cur.sha256, size: cur.size, owner: r.owner, acl: [...r.acl], labels: { ...r.labels },
    createdAt: r.createdAt, updatedAt: r.updatedAt, keep: r.keep,
    versions: r.versions.map(({ version, sha256, size, createdAt }) => ({ version, sha256, size, createdAt })),
  };
}

export class BlobStoreCore implements BlobStore {
  constructor(private readonly backend: BlobBackend, private readonly options: BlobCoreOptions) {}

  async #run<T>(what: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    this.options.check?.();
    throwIfAborted(signal);
    try {
      return await fn();
    } catch (err) {
      throw toStorageError(err, what);
    }
  }

  /** The newest record, or undefined (never written). Retries if retention removed it mid-read. */
  async #latest(name: string): Promise<BlobRecord | undefined> {
    for (let attempt = 0; attempt < MAX_READ_RETRIES; attempt++) {
      const seqs = await this.backend.listRecords(name);
      if (seqs.length === 0) return undefined;
      const seq = Math.max(...seqs);
      const raw = await this.backend.readRecord(name, seq);
      if (raw) return this.#parse(name, seq, raw);
    }
    throw new StorageError(`blob ${name}: its newest record keeps vanishing`, { code: 'STORAGE_UNAVAILABLE' });
  }

  #parse(name: string, seq: number, raw: Uint8Array): BlobRecord {
    try {
      const r = JSON.parse(Buffer.from(raw).toString('utf8')) as BlobRecord;
      if (r.seq !== seq || r.name !== name || !Array.isArray(r.versions)) throw new Error('record does not match its key');
      return r;
    } catch (err) {
      throw new StorageError(`blob ${name}: record ${seq} is corrupt`, { code: 'STORAGE_CORRUPT', cause: err });
    }
  }

  async #live(name: string): Promise<BlobRecord> {
    const r = await this.#latest(name);
    if (!r || r.deleted) throw new StorageError(`blob ${name} not found`, { code: 'STORAGE_NOT_FOUND', details: { blob: name } });
    return r;
  }

  async #commit(next: BlobRecord): Promise<void> {
    await this.backend.createRecord(next.name, next.seq, new Uint8Array(Buffer.from(JSON.stringify(next))));
  }

  /** After a commit: drop content of versions no longer retained and older records. Best effort. */
  async #cleanup(prev: BlobRecord | undefined, next: BlobRecord): Promise<void> {
    try {
      const keptRefs = new Set(next.versions.map((v) => v.ref));
      for (const v of prev?.versions ?? []) if (!keptRefs.has(v.ref)) await this.backend.deleteContent(v.ref);
      for (const seq of await this.backend.listRecords(next.name)) if (seq < next.seq) await this.backend.deleteRecord(next.name, seq);
    } catch (err) {
      // Leftovers are garbage, never visible state: the next write cleans them again.
      this.options.logger?.warn({ err, blob: next.name }, 'blob cleanup failed');
    }
  }

  async #upload(source: ByteSource, o: { signal?: AbortSignal; size?: number; onProgress?: (d: number, t?: number) => void }): Promise<StoredVersion & { version: 0 }> {
    const counter = new HashingCounter(o.onProgress, o.size);
    const ref = await this.backend.writeContent(counter.wrap(iterateBytes(source, o.signal)), { signal: o.signal, size: o.size });
    const { sha256, size } = counter.result();
    return { ref, sha256, size, createdAt: this.options.now(), version: 0 };
  }

  list(options: OpOptions = {}): Promise<BlobMeta[]> {
    return this.#run('list blobs', options.signal, async () => {
      const out: BlobMeta[] = [];
      for (const name of (await this.backend.listNames()).sort()) {
        const r = await this.#latest(name);
        if (r && !r.deleted) out.push(publicMeta(r));
      }
      return out;
    });
  }

  head(name: string, options: OpOptions = {}): Promise<BlobMeta | undefined> {
    return this.#run(`head blob ${String(name)}`, options.signal, async () => {
      validateBlobName(name);
      const r = await this.#latest(name);
      return r && !r.deleted ? publicMeta(r) : undefined;
    });
  }

  get(name: string, options: BlobReadOptions = {}): Promise<{ meta: BlobMeta; version: BlobVersionInfo; body: AsyncIterable<Uint8Array> }> {
    return this.#run(`get blob ${String(name)}`, options.signal, async () => {
      validateBlobName(name);
      const want = checkVersion(options.version, 'version');
      const r = await this.#live(name);
      const v = want === undefined ? r.versions[r.versions.length - 1]! : r.versions.find((x) => x.version === want);
      if (!v) throw new StorageError(`blob ${name} has no retained version ${want}`, { code: 'STORAGE_NOT_FOUND', details: { blob: name, version: want } });
      const raw = await this.backend.readContent(v.ref, { signal: options.signal });
      const body = verifyingStream(raw, { sha256: v.sha256, size: v.size, what: `blob ${name} version ${v.version}` }, options);
      const { ref: _ref, ...info } = v;
      return { meta: publicMeta(r), version: info, body };
    });
  }

  create(name: string, source: ByteSource, options: BlobCreateOptions): Promise<BlobMeta> {
    return this.#run(`create blob ${String(name)}`, options?.signal, async () => {
      validateBlobName(name);
      if (!options || typeof options.owner !== 'string') throw invalid('create needs options.owner');
      validateName('user', options.owner);
      const acl = [...validateAclEntries(options.acl ?? [])];
      const labels = checkLabels(options.labels);
      const keep = options.keep ?? DEFAULT_BLOB_KEEP;
      if (!Number.isSafeInteger(keep) || keep < 1 || keep > MAX_BLOB_KEEP) throw invalid(`keep must be an integer in 1..${MAX_BLOB_KEEP}, got ${String(keep)}`);
      const before = await this.#latest(name);
      if (before && !before.deleted) throw new StorageError(`blob ${name} already exists`, { code: 'STORAGE_ALREADY_EXISTS', details: { blob: name } });
      const content = await this.#upload(source, options);
      const now = this.options.now();
      const next: BlobRecord = {
        seq: (before?.seq ?? 0) + 1, name, owner: options.owner, acl, labels, createdAt: now, updatedAt: now, keep,
        versions: [{ ...content, version: 1 }],
      };
      try {
        await this.#commit(next);
      } catch (err) {
        await this.backend.deleteContent(content.ref).catch(() => {});
        if (isStorageError(err, 'STORAGE_ALREADY_EXISTS')) throw new StorageError(`blob ${name} was created concurrently`, { code: 'STORAGE_ALREADY_EXISTS', cause: err, details: { blob: name } });
        throw err;
      }
      await this.#cleanup(before, next);
      return publicMeta(next);
    });
  }

  update(name: string, source: ByteSource, options: BlobUpdateOptions = {}): Promise<BlobMeta> {
    return this.#run(`update blob ${String(name)}`, options.signal, async () => {
      validateBlobName(name);
      const expected = checkVersion(options.expectedVersion, 'expectedVersion');
      const labels = options.labels === undefined ? undefined : checkLabels(options.labels);
      // Fail before streaming a large upload for nothing.
      this.#expect(await this.#live(name), expected);
      const content = await this.#upload(source, options);
      try {
        return await this.#rewrite(name, expected, (r) => {
          const version = r.versions[r.versions.length - 1]!.version + 1;
          const versions = [...r.versions, { ...content, version }].slice(-r.keep);
          return { ...r, versions, updatedAt: this.options.now(), ...(labels ? { labels } : {}) };
        });
      } catch (err) {
        await this.backend.deleteContent(content.ref).catch(() => {});
        throw err;
      }
    });
  }

  delete(name: string, options: OpOptions & { expectedVersion?: number } = {}): Promise<void> {
    return this.#run(`delete blob ${String(name)}`, options.signal, async () => {
      validateBlobName(name);
      const expected = checkVersion(options.expectedVersion, 'expectedVersion');
      await this.#rewrite(name, expected, (r) => ({ ...r, deleted: true, versions: [], updatedAt: this.options.now() }));
    });
  }

  setAcl(name: string, acl: string[], options: OpOptions & { expectedVersion?: number } = {}): Promise<BlobMeta> {
    return this.#run(`set ACL of blob ${String(name)}`, options.signal, async () => {
      validateBlobName(name);
      const entries = [...validateAclEntries(acl)];
      const expected = checkVersion(options.expectedVersion, 'expectedVersion');
      return this.#rewrite(name, expected, (r) => ({ ...r, acl: entries, updatedAt: this.options.now() }));
    });
  }

  #expect(r: BlobRecord, expected: number | undefined): void {
    const current = r.versions[r.versions.length - 1]!.version;
    if (expected !== undefined && expected !== current) {
      throw new StorageError(`blob ${r.name} is at version ${current}, expected ${expected}`, {
        code: 'STORAGE_PRECONDITION_FAILED', details: { blob: r.name, current, expected },
      });
    }
  }

  /** Read-modify-create loop: a lost race re-reads (so the expected-version check sees the winner). */
  async #rewrite(name: string, expected: number | undefined, change: (r: BlobRecord) => BlobRecord): Promise<BlobMeta> {
    for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
      const r = await this.#live(name);
      this.#expect(r, expected);
      const next = { ...change(r), seq: r.seq + 1 };
      try {
        await this.#commit(next);
      } catch (err) {
        if (isStorageError(err, 'STORAGE_ALREADY_EXISTS')) continue;
        throw err;
      }
      await this.#cleanup(r, next);
      return next.deleted ? publicMeta(r) : publicMeta(next);
    }
    throw new StorageError(`blob ${name}: gave up after ${MAX_RACE_RETRIES} concurrent writes`, { code: 'STORAGE_UNAVAILABLE', transient: true });
  }
}

/** The blob record layout, for backend test hooks that locate stored content. */
export function blobContentRef(record: Uint8Array, version: number): string | undefined {
  const r = JSON.parse(Buffer.from(record).toString('utf8')) as BlobRecord;
  return r.versions.find((v) => v.version === version)?.ref;
}
