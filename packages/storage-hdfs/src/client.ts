// A small WebHDFS client: JSON metadata ops to the NameNode (keep-alive, failover over
// several NameNodes), two-step data ops whose body goes only to the DataNode.
import { Agent, request, type Dispatcher } from 'undici';
import { StorageError, sleep, type StorageLogger } from '@sluice/storage-api';
import { BodyError, putBody, type UploadResult } from './upload.js';
import { getBody, readText } from './download.js';
import { isAmbiguous, isStandby, mapHdfsError, type RemoteException } from './errors.js';

export interface FileStatus {
  pathSuffix: string;
  type: 'FILE' | 'DIRECTORY' | 'SYMLINK';
  length: number;
  owner: string;
  group: string;
  permission: string;
  modificationTime: number;
  fileId?: number;
  childrenNum?: number;
}

export interface ClientOptions {
  urls: string[];
  user: string;
  token?: string;
  hostMap: Record<string, string>;
  timeoutMs: number;
  maxAttempts: number;
  expectContinue: boolean;
  logger: StorageLogger;
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
type Params = Record<string, string | number | boolean | undefined>;
export type Body = Uint8Array | AsyncIterable<Uint8Array>;

interface Call {
  signal?: AbortSignal;
  /** Safe to send again after a transient failure (GETs, MKDIRS, DELETE, step 1 of data ops). */
  idempotent: boolean;
  /** The answer may be file data (HttpFS OPEN): idle timeout only, no total timeout. */
  stream?: boolean;
}

/** Percent-encodes each path segment; names are already restricted to a safe alphabet. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export class WebHdfsClient {
  readonly #agent: Agent;
  #active = 0;
  /** Requests sent, for diagnostics and benchmarks. */
  requests = 0;

  constructor(readonly options: ClientOptions) {
    // Keep-alive to the NameNode; the DataNode closes its own connections after OPEN.
    this.#agent = new Agent({ keepAliveTimeout: 10_000, connections: 32, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
  }

  async close(): Promise<void> {
    await this.#agent.close().catch(() => undefined);
  }

  #url(base: string, path: string, op: string, params: Params): string {
    const q = new URLSearchParams({ op });
    if (this.options.token) q.set('delegation', this.options.token);
    else q.set('user.name', this.options.user);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
    return `${base.replace(/\/+$/, '')}/webhdfs/v1${encodePath(path)}?${q.toString()}`;
  }

  /** Applies the DataNode host-rewrite map to a redirect Location. */
  rewriteLocation(location: string): string {
    const u = new URL(location);
    const map = this.options.hostMap;
    const to = map[u.host] ?? map[u.hostname];
    if (to === undefined) return location;
    if (to.includes(':')) u.host = to;
    else u.hostname = to;
    return u.toString();
  }

  /**
   * Sends one request to the active NameNode, retrying idempotent calls on transient
   * errors and failing over on StandbyException / connection errors.
   */
  async #nn(method: Method, op: string, path: string, params: Params, call: Call): Promise<Dispatcher.ResponseData> {
    const urls = this.options.urls;
    const limit = this.options.maxAttempts + urls.length - 1;
    let lastErr: unknown;
    for (let attempt = 1; attempt <= limit; attempt++) {
      const base = urls[this.#active % urls.length]!;
      try {
        const res = await this.#send(method, this.#url(base, path, op, params), call.signal, op, path, !call.stream);
        if (res.statusCode >= 400) throw await this.#failure(res, op, path);
        return res;
      } catch (err) {
        lastErr = err;
        const e = err as StorageError;
        if (e.code === 'STORAGE_ABORTED') throw err;
        const failover = urls.length > 1 && (isStandby(err) || e.details?.network === true);
        if (failover) {
          this.#active = (this.#active + 1) % urls.length;
          this.options.logger.warn({ op, path, from: base, to: urls[this.#active] }, 'webhdfs: failing over to the next NameNode');
        }
        const retry = e.transient === true && (call.idempotent || !isAmbiguous(err));
        if (!retry || attempt >= limit) throw err;
        if (!failover) await sleep(Math.min(1000, 25 * 2 ** attempt) * Math.random(), call.signal);
      }
    }
    throw lastErr;
  }

  /**
   * One bodiless request (bodies go through upload.ts). Metadata requests get a total
   * timeout; data downloads only the agent's idle timeouts.
   */
  async #send(method: Method, url: string, signal: AbortSignal | undefined, op: string, path: string, meta: boolean): Promise<Dispatcher.ResponseData> {
    this.requests++;
    const sig = meta ? (signal ? AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]) : AbortSignal.timeout(this.options.timeoutMs)) : signal;
    try {
      return (await request(url, { method, signal: sig, dispatcher: this.#agent } as unknown as Parameters<typeof request>[1])) as Dispatcher.ResponseData;
    } catch (cause) {
      if (signal?.aborted) throw new StorageError(`${op} ${path}: aborted`, { code: 'STORAGE_ABORTED', cause: signal.reason });
      throw mapHdfsError({ kind: 'network', cause, op, path });
    }
  }

  async #failure(res: Dispatcher.ResponseData, op: string, path: string): Promise<StorageError> {
    return failureFromText(res.statusCode, await res.body.text().catch(() => ''), op, path);
  }

  async #json<T>(method: Method, op: string, path: string, params: Params, call: Call): Promise<T | undefined> {
    const res = await this.#nn(method, op, path, params, call);
    const text = await res.body.text();
    return text ? (JSON.parse(text) as T) : undefined;
  }

  async #bool(method: Method, op: string, path: string, params: Params, call: Call): Promise<boolean> {
    const r = await this.#json<{ boolean?: boolean }>(method, op, path, params, call);
    if (typeof r?.boolean !== 'boolean') throw new StorageError(`${op} ${path}: no boolean in the answer`, { code: 'STORAGE_IO_ERROR' });
    return r.boolean;
  }

  async status(path: string, signal?: AbortSignal): Promise<FileStatus | undefined> {
    try {
      const r = await this.#json<{ FileStatus: FileStatus }>('GET', 'GETFILESTATUS', path, {}, { signal, idempotent: true });
      return r?.FileStatus;
    } catch (err) {
      if ((err as StorageError).code === 'STORAGE_NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** One LISTSTATUS request (the NN batches internally). undefined if the directory is missing. */
  async list(path: string, signal?: AbortSignal): Promise<FileStatus[] | undefined> {
    try {
      const r = await this.#json<{ FileStatuses: { FileStatus: FileStatus[] } }>('GET', 'LISTSTATUS', path, {}, { signal, idempotent: true });
      return r?.FileStatuses.FileStatus ?? [];
    } catch (err) {
      if ((err as StorageError).code === 'STORAGE_NOT_FOUND') return undefined;
      throw err;
    }
  }

  #noBatch = false;

  /** LISTSTATUS_BATCH pages (bounded responses for big directories), falling back to LISTSTATUS. */
  async *listPaged(path: string, signal?: AbortSignal): AsyncIterable<FileStatus> {
    if (this.#noBatch) {
      for (const s of (await this.list(path, signal)) ?? []) yield s;
      return;
    }
    let startAfter: string | undefined;
    for (let page = 0; page < 10_000_000; page++) {
      let r: { DirectoryListing: { partialListing: { FileStatuses: { FileStatus: FileStatus[] } }; remainingEntries: number } } | undefined;
      try {
        r = await this.#json('GET', 'LISTSTATUS_BATCH', path, { startAfter }, { signal, idempotent: true });
      } catch (err) {
        const code = (err as StorageError).code;
        if (code === 'STORAGE_NOT_FOUND') return;
        if (page === 0 && (code === 'STORAGE_INVALID_ARGUMENT' || code === 'STORAGE_NOT_SUPPORTED')) {
          // Older NameNodes and HttpFS: no LISTSTATUS_BATCH.
          this.#noBatch = true;
          for (const s of (await this.list(path, signal)) ?? []) yield s;
          return;
        }
        throw err;
      }
      const items = r?.DirectoryListing.partialListing.FileStatuses.FileStatus ?? [];
      for (const s of items) yield s;
      if (!r || r.DirectoryListing.remainingEntries <= 0 || items.length === 0) return;
      startAfter = items[items.length - 1]!.pathSuffix;
    }
  }

  async mkdirs(path: string, permission: string, signal?: AbortSignal): Promise<void> {
    if (!(await this.#bool('PUT', 'MKDIRS', path, { permission }, { signal, idempotent: true }))) {
      throw mapHdfsError({ kind: 'boolean-false', op: 'MKDIRS', path });
    }
  }

  /** false if nothing was there. */
  async delete(path: string, recursive: boolean, signal?: AbortSignal): Promise<boolean> {
    return this.#bool('DELETE', 'DELETE', path, { recursive }, { signal, idempotent: true });
  }

  async setOwner(path: string, owner: string, signal?: AbortSignal): Promise<void> {
    await this.#nn('PUT', 'SETOWNER', path, { owner }, { signal, idempotent: true }).then((r) => r.body.dump());
  }

  /**
   * rename/3: `NONE` fails with STORAGE_ALREADY_EXISTS if dst exists (atomic
   * put-if-absent); `OVERWRITE` replaces it atomically. After a lost response the retry
   * can find the source gone: that is reported as STORAGE_NOT_FOUND with
   * details.maybeApplied, for the caller to check the destination.
   */
  async rename(src: string, dst: string, mode: 'NONE' | 'OVERWRITE', signal?: AbortSignal): Promise<void> {
    let ambiguous = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.#nn('PUT', 'RENAME', src, { destination: dst, renameoptions: mode }, { signal, idempotent: false });
        await r.body.dump();
        return;
      } catch (err) {
        const e = err as StorageError;
        if (ambiguous && (e.code === 'STORAGE_NOT_FOUND' || e.code === 'STORAGE_ALREADY_EXISTS')) {
          throw new StorageError(e.message, { code: e.code, cause: err, details: { ...e.details, maybeApplied: true } });
        }
        if (!(e.transient && isAmbiguous(err)) || attempt >= this.options.maxAttempts) throw err;
        ambiguous = true;
        await sleep(20 * attempt, signal);
      }
    }
  }

  /** Step 1: ask the NameNode where the data goes (noredirect JSON, or a 307 Location). */
  async #locate(method: Method, op: string, path: string, params: Params, signal?: AbortSignal): Promise<{ location?: string; res?: Dispatcher.ResponseData }> {
    const res = await this.#nn(method, op, path, { ...params, noredirect: true }, { signal, idempotent: true, stream: op === 'OPEN' });
    if (res.statusCode === 307 || res.statusCode === 302) {
      await res.body.dump();
      const loc = res.headers.location;
      if (typeof loc !== 'string') throw new StorageError(`${op} ${path}: redirect without Location`, { code: 'STORAGE_IO_ERROR' });
      return { location: this.rewriteLocation(loc) };
    }
    const type = String(res.headers['content-type'] ?? '');
    if (type.includes('json')) {
      const text = await res.body.text();
      const loc = text ? (JSON.parse(text) as { Location?: string }).Location : undefined;
      if (loc) return { location: this.rewriteLocation(loc) };
      throw new StorageError(`${op} ${path}: no Location in the NameNode answer`, { code: 'STORAGE_IO_ERROR' });
    }
    // HttpFS OPEN: the gateway streams the data itself.
    return { res };
  }

  /**
   * Two-step CREATE. The body is sent once, to the DataNode only; step 2 is never
   * retried here (a dropped upload leaves a partial file: callers write temp paths).
   */
  async create(path: string, body: Body, options: { overwrite?: boolean; permission: string; signal?: AbortSignal }): Promise<void> {
    const params = { overwrite: options.overwrite ?? false, permission: options.permission };
    const { location, res: direct } = await this.#locate('PUT', 'CREATE', path, params, options.signal);
    if (direct) {
      await direct.body.dump();
      throw new StorageError(`CREATE ${path}: the NameNode did not redirect`, { code: 'STORAGE_IO_ERROR' });
    }
    this.requests++;
    let res: UploadResult;
    try {
      res = await putBody(location!, body, { signal: options.signal, timeoutMs: this.options.timeoutMs, expectContinue: this.options.expectContinue });
    } catch (cause) {
      if (cause instanceof BodyError) throw cause.inner;
      if (options.signal?.aborted) throw new StorageError(`CREATE ${path}: aborted`, { code: 'STORAGE_ABORTED', cause: options.signal.reason });
      throw mapHdfsError({ kind: 'network', cause, op: 'CREATE', path });
    }
    if (res.status >= 400) throw failureFromText(res.status, res.text, 'CREATE', path);
    if (res.status !== 201 && res.status !== 200) {
      throw new StorageError(`CREATE ${path}: unexpected status ${res.status}`, { code: 'STORAGE_IO_ERROR' });
    }
  }

  /** Two-step OPEN, streamed. STORAGE_NOT_FOUND if the file is missing. */
  async open(path: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { location, res: direct } = await this.#locate('GET', 'OPEN', path, {}, signal);
        if (direct) {
          if (direct.statusCode >= 400) throw await this.#failure(direct, 'OPEN', path);
          return mapStream(direct.body as AsyncIterable<Uint8Array>, path, signal);
        }
        // The DataNode leg over node:http (see download.ts).
        this.requests++;
        let res: Awaited<ReturnType<typeof getBody>>;
        try {
          res = await getBody(location!, { signal, timeoutMs: this.options.timeoutMs });
        } catch (cause) {
          if (signal?.aborted) throw new StorageError(`OPEN ${path}: aborted`, { code: 'STORAGE_ABORTED', cause: signal.reason });
          throw mapHdfsError({ kind: 'network', cause, op: 'OPEN', path });
        }
        if ((res.statusCode ?? 500) >= 400) throw failureFromText(res.statusCode ?? 500, await readText(res).catch(() => ''), 'OPEN', path);
        return mapStream(res as AsyncIterable<Uint8Array>, path, signal);
      } catch (err) {
        // Reads are idempotent: a failed DataNode exchange is simply started over.
        if (!(err as StorageError).transient || attempt >= this.options.maxAttempts) throw err;
        await sleep(Math.min(1000, 25 * 2 ** attempt) * Math.random(), signal);
      }
    }
  }

  /** Whole small file; retried as a unit (a broken body stream restarts the read). */
  async readAll(path: string, signal?: AbortSignal): Promise<Buffer> {
    for (let attempt = 1; ; attempt++) {
      try {
        const chunks: Uint8Array[] = [];
        for await (const c of await this.open(path, signal)) chunks.push(c);
        return Buffer.concat(chunks);
      } catch (err) {
        const e = err as StorageError;
        const transient = e.transient === true || (e.code === undefined && !signal?.aborted);
        if (!transient || attempt >= this.options.maxAttempts) throw e.code ? e : mapHdfsError({ kind: 'network', cause: err, op: 'OPEN', path });
        await sleep(Math.min(1000, 25 * 2 ** attempt) * Math.random(), signal);
      }
    }
  }
}

/** Maps a body stream that breaks mid-way (DataNode death) to a transient StorageError. */
async function* mapStream(body: AsyncIterable<Uint8Array>, path: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
  try {
    for await (const c of body) yield c;
  } catch (cause) {
    if (signal?.aborted) throw new StorageError(`OPEN ${path}: aborted`, { code: 'STORAGE_ABORTED', cause: signal.reason });
    throw mapHdfsError({ kind: 'network', cause, op: 'OPEN', path });
  }
}

function failureFromText(status: number, text: string, op: string, path: string): StorageError {
  let remote: RemoteException | undefined;
  try {
    remote = (JSON.parse(text) as { RemoteException?: RemoteException }).RemoteException;
  } catch {
    // Not JSON (a proxy or servlet filter page): classified by status and text.
  }
  return mapHdfsError({ kind: 'http', status, remote, body: text.slice(0, 500), op, path });
}
