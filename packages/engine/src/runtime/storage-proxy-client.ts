/**
 * The executor's Storage when the worker proxies storage: a storage-api backend whose
 * stores forward every call to the worker over the proxy connection. The executor holds
 * no storage configuration and no credentials.
 *
 * It hands the guard stores that already apply the contract's policy (as routing does):
 * the policy runs once, in storage-api's guard over the real backend on the worker. The
 * backend I/O hooks cannot cross a socket themselves: their policy callbacks are
 * synchronous and run inside the backend's atomic section.
 */
import type { Duplex } from 'node:stream';
import {
  LIMITS, guardStorage, type AppMeta, type AppStorage, type BackendAppStorage, type BackendJarStore, type BackendStorage, type BlobStore,
  type ByteSource, type Checkpoint, type CheckpointStore, type CheckpointWriter, type ConfigStore, type LogRecord, type LogStore,
  type MetricsStore, type OffsetStore, type OffsetWriter, type Storage, type StorageCapabilities,
} from '@sluice/storage-api';
import { ProxyConnection } from './storage-proxy-connection.js';
import { UPLOAD_MARK, type Hello, type Target } from './storage-proxy-protocol.js';

// The brands storage-api's guard reads (Symbol.for: shared across package copies) to pass a
// store that applies the policy itself through unchanged.
const OFFSET_POLICY = Symbol.for('@sluice/storage-api.offset-policy');
const CONFIG_POLICY = Symbol.for('@sluice/storage-api.config-policy');

type Rpc = (method: string, ...args: unknown[]) => Promise<never>;

function rpcOf(conn: ProxyConnection, target: (method: string) => Target): Rpc {
  return (method, ...args) => conn.call(target(method), args) as Promise<never>;
}

function iterableOf(source: ByteSource): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) {
    return (async function* () {
      yield source;
    })();
  }
  return source;
}

function counted(src: AsyncIterable<unknown>, onProgress?: (done: number, total?: number) => void, total?: number): AsyncIterable<Uint8Array> {
  if (!onProgress) return src as AsyncIterable<Uint8Array>;
  return (async function* () {
    let n = 0;
    for await (const c of src as AsyncIterable<Uint8Array>) {
      n += c.byteLength;
      onProgress(n, total);
      yield c;
    }
  })();
}

class ProxyApp {
  readonly jars: BackendJarStore;
  readonly logs: LogStore;
  readonly metrics: MetricsStore;
  readonly config: ConfigStore;
  readonly #rpc: Rpc;

  constructor(readonly conn: ProxyConnection, readonly h: number, readonly appId: string, readonly appName: string) {
    const sub = (kind: 'jars' | 'logs' | 'metrics' | 'config'): Rpc => rpcOf(conn, (method) => ({ kind, method, h }) as Target);
    this.#rpc = rpcOf(conn, (method) => ({ kind: 'app', method, h }) as Target);
    const jars = sub('jars');
    this.jars = {
      put: (name, source, o = {}) => conn.call({ kind: 'jars', method: 'put', h }, [name, UPLOAD_MARK, o], { upload: iterableOf(source), ...(o.onProgress ? { onUploaded: (n: number) => o.onProgress!(n, o.size) } : {}) }) as Promise<never>,
      get: async (name, o = {}) => counted((await jars('get', name, o)) as AsyncIterable<unknown>, o.onProgress, o.size),
      stat: (name, o) => jars('stat', name, o),
      list: (o) => jars('list', o),
      delete: (name, o) => jars('delete', name, o),
    };
    const logs = sub('logs');
    this.logs = {
      append: (records, o) => logs('append', records, o),
      query: (q, o) => logs('query', q, o),
      follow: (q, o = {}) => this.#follow(q, o),
      stats: (o) => logs('stats', o),
      deleteBefore: (t, o) => logs('deleteBefore', t, o),
    };
    const metrics = sub('metrics');
    this.metrics = {
      write: (points, o) => metrics('write', points, o),
      query: (q, o) => metrics('query', q, o),
      listSeries: (f, o) => metrics('listSeries', f, o),
      deleteBefore: (t, o) => metrics('deleteBefore', t, o),
    };
    const config = sub('config');
    this.config = {
      get: (id, o) => config('get', id, o),
      set: (id, value, o) => config('set', id, value, o),
      list: (o) => config('list', o),
      delete: (id, o) => config('delete', id, o),
    };
    Object.defineProperty(this.config, CONFIG_POLICY, { value: true });
  }

  /** The call goes out at once (follow starts at the call); records are pulled as the reader asks. */
  #follow(q: Parameters<LogStore['follow']>[0], o: Parameters<LogStore['follow']>[1] = {}): AsyncIterable<LogRecord> {
    const opened = this.conn.call({ kind: 'logs', method: 'follow', h: this.h }, [q, { ...(o.pollIntervalMs ? { pollIntervalMs: o.pollIntervalMs } : {}) }]);
    opened.catch(() => undefined);
    return (async function* () {
      const ref = (await opened) as AsyncIterable<unknown>;
      const it = ref[Symbol.asyncIterator]();
      const onAbort = (): void => void it.return?.();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for (;;) {
          if (o.signal?.aborted) return;
          const r = await it.next();
          if (r.done) return;
          yield r.value as LogRecord;
        }
      } finally {
        o.signal?.removeEventListener('abort', onAbort);
        await it.return?.();
      }
    })();
  }

  meta(): Promise<AppMeta> {
    return this.#rpc('meta');
  }

  updateMeta(patch: Parameters<AppStorage['updateMeta']>[0], options?: { ifVersion?: number }): Promise<AppMeta> {
    return this.#rpc('updateMeta', patch, options);
  }

  listTimeStores(kind: 'offsets' | 'checkpoints'): Promise<string[]> {
    return this.#rpc('listTimeStores', kind);
  }

  async close(): Promise<void> {
    await this.#rpc('close').catch(() => undefined);
  }

  offsets(name: string): OffsetStore {
    const { conn, h } = this;
    const r = rpcOf(conn, (method) => ({ kind: 'offsets', method, h, store: name }) as Target);
    const store: OffsetStore = {
      name,
      get: (t, o) => r('get', t, o),
      floor: (t, o) => r('floor', t, o),
      lookUp: (t, o) => r('lookUp', t, o),
      first: (o) => r('first', o),
      last: (o) => r('last', o),
      range: (from, to, o) => r('range', from, to, o),
      currentEpoch: (o) => r('currentEpoch', o),
      writer: async (epoch, o) => {
        const { w } = (await r('writer', epoch, o)) as { w: number };
        const wr = rpcOf(conn, (method) => ({ kind: 'offsetWriter', method, w }) as Target);
        const writer: OffsetWriter = {
          epoch,
          append: (t, value, o2) => wr('append', t, value, o2),
          appendBatch: (entries, o2) => wr('appendBatch', entries, o2),
          truncateAfter: (t, o2) => wr('truncateAfter', t, o2),
          truncateBefore: (t, o2) => wr('truncateBefore', t, o2),
        };
        return writer;
      },
    };
    Object.defineProperty(store, OFFSET_POLICY, { value: true });
    return store;
  }

  checkpoints(name: string, options: { numRetained?: number } = {}): CheckpointStore {
    const { conn, h } = this;
    const retained = options.numRetained === undefined ? {} : { numRetained: options.numRetained };
    const r = rpcOf(conn, (method) => ({ kind: 'checkpoints', method, h, store: name, ...retained }) as Target);
    return {
      name,
      numRetained: options.numRetained ?? LIMITS.defaultNumRetained,
      get: (t, o) => r('get', t, o),
      floor: (t, o) => r('floor', t, o),
      lookUp: (t, o) => r('lookUp', t, o),
      first: (o) => r('first', o),
      last: (o) => r('last', o),
      range: (from, to, o) => r('range', from, to, o),
      currentEpoch: (o) => r('currentEpoch', o),
      readPart: (t, part, o) => r('readPart', t, part, o),
      writer: async (epoch, o) => {
        const { w } = (await r('writer', epoch, o)) as { w: number };
        const wr = rpcOf(conn, (method) => ({ kind: 'checkpointWriter', method, w }) as Target);
        const writer: CheckpointWriter = {
          epoch,
          stage: (t, part, bytes, o2) => wr('stage', t, part, bytes, o2),
          commit: (t, parts, o2) => wr('commit', t, parts, o2) as Promise<Checkpoint>,
          append: (t, bytes, o2) => wr('append', t, bytes, o2),
          truncateAfter: (t, o2) => wr('truncateAfter', t, o2),
          truncateBefore: (t, o2) => wr('truncateBefore', t, o2),
        };
        return writer;
      },
      stager: (epoch) => {
        const sr = rpcOf(conn, () => ({ kind: 'checkpointStager', method: 'stage', h, store: name, ...retained, epoch }) as Target);
        return { epoch, stage: (t, part, bytes, o) => sr('stage', t, part, bytes, o) };
      },
    };
  }
}

function proxyBlobs(conn: ProxyConnection): BlobStore {
  const r = rpcOf(conn, (method) => ({ kind: 'blobs', method }) as Target);
  return {
    list: (o) => r('list', o),
    head: (name, o) => r('head', name, o),
    get: async (name, o = {}) => {
      const got = (await r('get', name, o)) as Awaited<ReturnType<BlobStore['get']>>;
      return { ...got, body: counted(got.body, o.onProgress, got.version.size) };
    },
    create: (name, source, o) => conn.call({ kind: 'blobs', method: 'create' }, [name, UPLOAD_MARK, o], { upload: iterableOf(source) }) as Promise<never>,
    update: (name, source, o) => conn.call({ kind: 'blobs', method: 'update' }, [name, UPLOAD_MARK, o], { upload: iterableOf(source) }) as Promise<never>,
    delete: (name, o) => r('delete', name, o),
    setAcl: (name, acl, o) => r('setAcl', name, acl, o),
  };
}

/** The raw backend over a connection whose greeting has arrived. */
export function proxyBackend(conn: ProxyConnection, hello: Hello): BackendStorage {
  const s = rpcOf(conn, (method) => ({ kind: 'storage', method }) as Target);
  // Its offsets and config are policy-applying stores branded for the guard's pass-through
  // (the types name only the hook shape there; the guard accepts both at run time).
  const open = (x: unknown): BackendAppStorage | undefined => {
    if (!x) return undefined;
    const a = x as { h: number; appId: string; appName: string };
    return new ProxyApp(conn, a.h, a.appId, a.appName) as unknown as BackendAppStorage;
  };
  const capabilities: StorageCapabilities = Object.freeze({ ...hello.capabilities });
  return {
    capabilities,
    backend: `proxy(${hello.backend})`,
    createAppStorage: async (appName, appId, options) => open(await s('createApp', appName, appId, options))!,
    getAppStorage: async (appId) => open(await s('getApp', appId)),
    listApps: () => s('listApps'),
    deleteAppStorage: (appId) => s('deleteApp', appId),
    describe: () => ({ proxy: true, ...hello.describe }),
    ...(capabilities.blobs ? { blobs: proxyBlobs(conn) } : {}),
    close: () => {
      conn.close();
      return Promise.resolve();
    },
  };
}

/** Connects over `socket` (the worker's end is a StorageProxySession), waits for the greeting, returns the guarded Storage. */
export async function openProxyStorage(socket: Duplex, options: { timeoutMs?: number } = {}): Promise<{ storage: Storage; hello: Hello }> {
  const conn = new ProxyConnection(socket, options);
  const hello = await conn.hello;
  return { storage: guardStorage(proxyBackend(conn, hello)), hello };
}
