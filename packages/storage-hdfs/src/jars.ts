// Jars: content-addressed blobs (`jars/blobs/<sha256>`) streamed up through a temp file
// and committed by a create-only rename (identical content is stored once), plus one
// small name record per jar (`jars/names/<name>`) replaced atomically (OVERWRITE).
import { randomUUID } from 'node:crypto';
import type { BackendJarStore, ByteSource, JarInfo, OpOptions, TransferOptions } from '@sluice/storage-api';
import { HashingCounter, StorageError, iterateBytes, verifyingStream } from '@sluice/storage-api';
import { checkJarDigest, checkJarReplaceable, jarNotFoundError } from '@sluice/storage-api';
import type { HdfsCtx } from './context.js';
import { TMP_PREFIX, commitFile, committed, jsonBytes, readJson, removeQuietly } from './files.js';

export class HdfsJarStore implements BackendJarStore {
  readonly #blobs: string;
  readonly #names: string;

  constructor(private readonly ctx: HdfsCtx) {
    this.#blobs = `${ctx.appDir}/jars/blobs`;
    this.#names = `${ctx.appDir}/jars/names`;
  }

  async #assertNotInUse(name: string): Promise<void> {
    const m = await this.ctx.appMeta();
    checkJarReplaceable(m, name);
  }

  async put(name: string, source: ByteSource, options: TransferOptions = {}): Promise<JarInfo> {
    await this.#assertNotInUse(name);
    const counter = new HashingCounter(options.onProgress, options.size);
    const tmp = `${this.#blobs}/${TMP_PREFIX}upload.${randomUUID()}`;
    // Streamed straight to the DataNode while hashing: never buffered whole.
    try {
      await this.ctx.client.create(tmp, counter.wrap(iterateBytes(source, options.signal)), { permission: this.ctx.filePermission, signal: options.signal });
    } catch (err) {
      await removeQuietly(this.ctx, tmp);
      throw err;
    }
    const { sha256, size } = counter.result();
    try {
      checkJarDigest(name, sha256, options.expectedSha256);
      // The upload went to a temp path: check its length before trusting it.
      const st = await this.ctx.client.status(tmp, options.signal);
      if (!st || st.length !== size) {
        throw new StorageError(`jar ${name}: uploaded ${st?.length ?? 0} of ${size} bytes`, { code: 'STORAGE_UNAVAILABLE', transient: true });
      }
      try {
        await this.ctx.client.rename(tmp, `${this.#blobs}/${sha256}`, 'NONE', options.signal);
      } catch (err) {
        const code = (err as StorageError).code;
        // Already stored (dedupe), or our own rename whose answer was lost.
        if (code !== 'STORAGE_ALREADY_EXISTS' && !(code === 'STORAGE_NOT_FOUND' && (err as StorageError).details?.maybeApplied)) throw err;
      }
    } finally {
      await removeQuietly(this.ctx, tmp);
    }
    const info: JarInfo = { name, sha256, size, createdAt: this.ctx.now() };
    await this.#assertNotInUse(name);
    await commitFile(this.ctx, `${this.#names}/${name}`, jsonBytes(info), 'replace', options.signal);
    return { ...info };
  }

  async get(name: string, options: TransferOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const info = await this.stat(name, options);
    if (!info) throw jarNotFoundError(name);
    let body: AsyncIterable<Uint8Array>;
    try {
      body = await this.ctx.client.open(`${this.#blobs}/${info.sha256}`, options.signal);
    } catch (err) {
      if ((err as StorageError).code === 'STORAGE_NOT_FOUND') {
        throw new StorageError(`jar ${name}: its content ${info.sha256} is missing`, { code: 'STORAGE_CORRUPT', cause: err });
      }
      throw err;
    }
    return verifyingStream(body, { sha256: info.sha256, size: info.size, what: `jar ${name}` }, options);
  }

  async stat(name: string, o: OpOptions = {}): Promise<JarInfo | undefined> {
    try {
      return await readJson<JarInfo>(this.ctx.client, `${this.#names}/${name}`, o.signal);
    } catch (err) {
      if ((err as StorageError).code === 'STORAGE_NOT_FOUND') return undefined;
      throw err;
    }
  }

  async list(o: OpOptions = {}): Promise<JarInfo[]> {
    const out: JarInfo[] = [];
    for (const s of committed(await this.ctx.client.list(this.#names, o.signal))) {
      const info = await this.stat(s.pathSuffix, o);
      if (info) out.push(info);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async delete(name: string, o: OpOptions = {}): Promise<void> {
    const info = await this.stat(name, o);
    if (!info) throw jarNotFoundError(name);
    await this.#assertNotInUse(name);
    if (!(await this.ctx.client.delete(`${this.#names}/${name}`, false, o.signal))) {
      throw jarNotFoundError(name);
    }
    // Drop the blob when no other name points at it. A put of the same content racing
    // this delete can lose its blob; it then reads as STORAGE_CORRUPT (documented).
    const others = await this.list(o);
    if (!others.some((j) => j.sha256 === info.sha256)) await removeQuietly(this.ctx, `${this.#blobs}/${info.sha256}`);
  }
}
