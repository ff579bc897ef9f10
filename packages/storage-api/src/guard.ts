import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type {
  AppMetaPatch, AppStorage, BackendAppStorage, BackendJarStore, BackendStorage, Checkpoint, CheckpointPart, CheckpointStager, CheckpointStore,
  CheckpointWriter, ConfigStore, CreateAppOptions, JarStore, LogQuery, LogRecord, LogStore, MetricPoint, MetricQuery,
  MetricsStore, OffsetStore, OffsetWriter, OpOptions, Storage, TimeEntry, TransferOptions,
} from './types.js';
import { StorageError, throwIfAborted, toStorageError } from './errors.js';
import { validateEpoch, validateName, validateTime } from './names.js';
import { LIMITS } from './limits.js';
import { isLogLevel } from './util/logs.js';
import { atomicWriteFile } from './util/atomic-file.js';
import { validateAclEntries } from './acl.js';
import { markPolicyApplied, offsetStoreOver } from './offset-store.js';
import { checkpointStoreOver } from './checkpoint-store.js';
import { configStoreOver, markConfigPolicy } from './config-store.js';
import { attachBlobs } from './blob-guard.js';

const GUARDED = Symbol.for('@sluice/storage-api.guarded');
const RAW = Symbol.for('@sluice/storage-api.raw');

/** The backend behind a guarded Storage (for test hooks that need backend internals). */
export function unwrapStorage(s: Storage | BackendStorage): BackendStorage {
  return ((s as unknown as Record<symbol, unknown>)[RAW] as BackendStorage | undefined) ?? (s as BackendStorage);
}

/** Shared open/closed state: closing a Storage closes every AppStorage it handed out. */
class Life {
  closed = false;
  constructor(readonly what: string, readonly parent?: Life) {}
  check(): void {
    if (this.closed || this.parent?.closed) {
      throw new StorageError(`${this.what} is closed`, { code: 'STORAGE_CLOSED' });
    }
  }
}

/**
 * Runs a backend call: closed check, abort check, abort race, error mapping.
 * An aborted write may or may not have taken effect (like a timeout); callers retry
 * idempotently (appends of the same entry and identical commits are no-ops).
 */
async function run<T>(life: Life, what: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  life.check();
  throwIfAborted(signal);
  try {
    if (!signal) return await fn();
    return await new Promise<T>((resolve, reject) => {
      let aborted = false;
      const onAbort = (): void => {
        aborted = true;
        reject(new StorageError(`${what}: aborted`, { code: 'STORAGE_ABORTED', cause: signal.reason }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      fn()
        .then((v) => {
          // The caller has gone: a stream that arrives late (jars.get) is opened and closed
          // at once, so its connection is released instead of left paused forever.
          if (aborted) void disposeLate(v);
          resolve(v);
        }, reject)
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
  } catch (err) {
    throw toStorageError(err, what);
  }
}

async function disposeLate(v: unknown): Promise<void> {
  if (!v || typeof v !== 'object' || typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') return;
  try {
    // Starting the iteration reaches the underlying body; return() then destroys it.
    for await (const _ of v as AsyncIterable<unknown>) break;
  } catch {
    // an abandoned stream's failure has nobody to tell
  }
}

function invalid(message: string): StorageError {
  return new StorageError(message, { code: 'STORAGE_INVALID_ARGUMENT' });
}

function checkBytes(value: unknown, max: number, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalid(`${what} must be a Uint8Array`);
  if (value.byteLength > max) {
    throw new StorageError(`${what} is ${value.byteLength} bytes, more than the limit of ${max}`, { code: 'STORAGE_TOO_LARGE', details: { limit: max } });
  }
  return value;
}

function checkLabels(labels: unknown, what: string): Record<string, string> {
  if (labels === undefined) return {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) throw invalid(`${what} labels must be an object`);
  const entries = Object.entries(labels);
  if (entries.length > LIMITS.maxLabels) throw invalid(`${what} has more than ${LIMITS.maxLabels} labels`);
  for (const [k, v] of entries) {
    if (typeof v !== 'string') throw invalid(`${what} label ${k} must be a string`);
    if (v.length > LIMITS.labelValueLength || k.length > LIMITS.labelValueLength) throw invalid(`${what} label ${k} is too long`);
  }
  return labels as Record<string, string>;
}

function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) throw invalid(`limit must be a positive integer, got ${limit}`);
}

function checkLogRecord(r: LogRecord, i: number): void {
  if (typeof r !== 'object' || r === null) throw invalid(`log record ${i} must be an object`);
  validateTime(r.ts, `log record ${i} ts`);
  if (!isLogLevel(r.level)) throw invalid(`log record ${i} has unknown level ${String(r.level)}`);
  if (typeof r.msg !== 'string') throw invalid(`log record ${i} msg must be a string`);
  checkLabels(r.labels, `log record ${i}`);
  const size = Buffer.byteLength(r.msg) + (r.fields ? Buffer.byteLength(JSON.stringify(r.fields)) : 0);
  if (size > LIMITS.logRecordBytes) {
    throw new StorageError(`log record ${i} is ${size} bytes, more than ${LIMITS.logRecordBytes}`, { code: 'STORAGE_TOO_LARGE' });
  }
}

function checkPoint(p: MetricPoint, i: number): void {
  if (typeof p !== 'object' || p === null) throw invalid(`metric point ${i} must be an object`);
  if (typeof p.name !== 'string' || p.name.length === 0 || p.name.length > LIMITS.metricNameLength) throw invalid(`metric point ${i} has an invalid name`);
  validateTime(p.ts, `metric point ${i} ts`);
  if (typeof p.value !== 'number' || !Number.isFinite(p.value)) throw invalid(`metric point ${i} value must be a finite number`);
  if (!['counter', 'gauge', 'meter', 'histogram'].includes(p.kind)) throw invalid(`metric point ${i} has unknown kind ${String(p.kind)}`);
  checkLabels(p.labels, `metric point ${i}`);
}

function checkBatch(n: unknown, what: string): void {
  if (!Array.isArray(n)) throw invalid(`${what} must be an array`);
  if (n.length > LIMITS.batchSize) throw new StorageError(`${what}: more than ${LIMITS.batchSize} items in one call`, { code: 'STORAGE_TOO_LARGE' });
}

function checkIncreasing(entries: TimeEntry[], what: string): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    validateTime(e.t, `${what} entry ${i} time`);
    checkBytes(e.value, LIMITS.offsetValueBytes, `${what} entry ${i} value`);
    if (i > 0 && e.t <= entries[i - 1]!.t) {
      throw new StorageError(`${what}: batch times must strictly increase (${entries[i - 1]!.t} then ${e.t})`, { code: 'STORAGE_OUT_OF_ORDER' });
    }
  }
}

// ---------------------------------------------------------------------------------------

/** Wraps a backend so that every caller gets the same validation and lifecycle. Idempotent. */
export function guardStorage(raw: BackendStorage): Storage {
  if ((raw as unknown as Record<symbol, unknown>)[GUARDED]) return raw as unknown as Storage;
  const life = new Life(`storage (${raw.backend})`);
  const wrapApp = (a: BackendAppStorage): AppStorage => guardApp(a, new Life(`app storage ${a.appId}`, life), raw.backend);
  const s: Storage = {
    get capabilities() {
      return raw.capabilities;
    },
    backend: raw.backend,
    createAppStorage: (appName, appId, options: CreateAppOptions) =>
      run(life, `create app ${appId}`, undefined, async () => {
        validateName('appName', appName);
        validateName('appId', appId);
        if (!options || typeof options.owner !== 'string') throw invalid('createAppStorage needs options.owner');
        validateName('user', options.owner);
        validateAclEntries(options.acl ?? []);
        checkLabels(options.labels, 'app');
        return wrapApp(await raw.createAppStorage(appName, appId, options));
      }),
    getAppStorage: (appId) =>
      run(life, `get app ${appId}`, undefined, async () => {
        validateName('appId', appId);
        const a = await raw.getAppStorage(appId);
        return a && wrapApp(a);
      }),
    listApps: () => run(life, 'list apps', undefined, () => raw.listApps()),
    describe: () => raw.describe?.() ?? {},
    deleteAppStorage: (appId) =>
      run(life, `delete app ${appId}`, undefined, async () => {
        validateName('appId', appId);
        await raw.deleteAppStorage(appId);
      }),
    close: async () => {
      if (life.closed) return;
      life.closed = true;
      await raw.close();
    },
  };
  attachBlobs(s, raw, () => life.check());
  Object.defineProperty(s, GUARDED, { value: true });
  Object.defineProperty(s, RAW, { value: raw });
  return s;
}

function guardApp(a: BackendAppStorage, life: Life, backend: string): AppStorage {
  const offsets = new Map<string, OffsetStore>();
  const checkpoints = new Map<string, CheckpointStore>();
  return {
    appId: a.appId,
    appName: a.appName,
    meta: () => run(life, `meta of ${a.appId}`, undefined, () => a.meta()),
    updateMeta: (patch: AppMetaPatch, options = {}) =>
      run(life, `update meta of ${a.appId}`, undefined, async () => {
        if (patch.acl) validateAclEntries(patch.acl);
        if (patch.jar !== undefined) validateName('jar', patch.jar);
        if (patch.status !== undefined && !['created', 'running', 'stopped', 'failed', 'killed'].includes(patch.status)) {
          throw invalid(`unknown app status ${String(patch.status)}`);
        }
        if (patch.labels) checkLabels(patch.labels, 'app');
        return a.updateMeta(patch, options);
      }),
    jars: guardJars(a.jars, life),
    logs: guardLogs(a.logs, life),
    metrics: guardMetrics(a.metrics, life),
    config: guardConfig(configStoreOver(a.config, backend), life),
    offsets(name: string) {
      life.check();
      validateName('store', name);
      let s = offsets.get(name);
      if (!s) offsets.set(name, (s = guardOffsets(offsetStoreOver(a.offsets(name), backend), life)));
      return s;
    },
    checkpoints(name: string, options: { numRetained?: number } = {}) {
      life.check();
      validateName('store', name);
      if (options.numRetained !== undefined && (!Number.isSafeInteger(options.numRetained) || options.numRetained < 1)) {
        throw invalid(`numRetained must be a positive integer, got ${options.numRetained}`);
      }
      const key = `${name}\u0000${options.numRetained ?? ''}`;
      let s = checkpoints.get(key);
      if (!s) checkpoints.set(key, (s = guardCheckpoints(checkpointStoreOver(a.checkpoints(name, options), options.numRetained ?? LIMITS.defaultNumRetained), life)));
      return s;
    },
    listTimeStores: (kind) => run(life, `list ${kind} stores`, undefined, () => a.listTimeStores(kind)),
    close: async () => {
      if (life.closed) return;
      life.closed = true;
      await a.close();
    },
  };
}

function guardReader<E>(r: {
  name: string;
  get(t: number, o?: OpOptions): Promise<E | undefined>;
  floor(t: number, o?: OpOptions): Promise<E | undefined>;
  lookUp(t: number, o?: OpOptions): Promise<import('./types.js').LookUpResult<E>>;
  first(o?: OpOptions): Promise<E | undefined>;
  last(o?: OpOptions): Promise<E | undefined>;
  range(from: number, to: number, o?: OpOptions & { limit?: number }): Promise<E[]>;
  currentEpoch(o?: OpOptions): Promise<number>;
}, life: Life, kind: string) {
  const w = `${kind} ${r.name}`;
  return {
    name: r.name,
    get: (t: number, o: OpOptions = {}) => run(life, `${w} get`, o.signal, async () => r.get(validateTime(t), o)),
    floor: (t: number, o: OpOptions = {}) => run(life, `${w} floor`, o.signal, async () => r.floor(validateTime(t), o)),
    lookUp: (t: number, o: OpOptions = {}) => run(life, `${w} lookUp`, o.signal, async () => r.lookUp(validateTime(t), o)),
    first: (o: OpOptions = {}) => run(life, `${w} first`, o.signal, () => r.first(o)),
    last: (o: OpOptions = {}) => run(life, `${w} last`, o.signal, () => r.last(o)),
    range: (from: number, to: number, o: OpOptions & { limit?: number } = {}) =>
      run(life, `${w} range`, o.signal, async () => {
        validateTime(from, 'from');
        if (to !== Number.POSITIVE_INFINITY) validateTime(to, 'to');
        checkLimit(o.limit);
        return r.range(from, to, { ...o, limit: Math.min(o.limit ?? LIMITS.maxLimit, LIMITS.maxLimit) });
      }),
    currentEpoch: (o: OpOptions = {}) => run(life, `${w} currentEpoch`, o.signal, () => r.currentEpoch(o)),
  };
}

function guardOffsets(r: OffsetStore, life: Life): OffsetStore {
  const w = `offsets ${r.name}`;
  return markPolicyApplied({
    ...guardReader(r, life, 'offsets'),
    writer: (epoch, o = {}) =>
      run(life, `${w} writer`, o.signal, async () => {
        const wr = await r.writer(validateEpoch(epoch), o);
        const g: OffsetWriter = {
          epoch: wr.epoch,
          append: (t, value, o2 = {}) =>
            run(life, `${w} append`, o2.signal, async () => {
              validateTime(t);
              checkBytes(value, LIMITS.offsetValueBytes, 'offset value');
              await wr.append(t, value, o2);
            }),
          appendBatch: (entries, o2 = {}) =>
            run(life, `${w} appendBatch`, o2.signal, async () => {
              checkBatch(entries, 'appendBatch');
              checkIncreasing(entries, w);
              if (entries.length > 0) await wr.appendBatch(entries, o2);
            }),
          truncateAfter: (t, o2 = {}) => run(life, `${w} truncateAfter`, o2.signal, async () => wr.truncateAfter(validateTime(t), o2)),
          truncateBefore: (t, o2 = {}) => run(life, `${w} truncateBefore`, o2.signal, async () => wr.truncateBefore(validateTime(t), o2)),
        };
        return g;
      }),
  });
}

function checkPartsList(parts: CheckpointPart[]): void {
  if (!Array.isArray(parts)) throw invalid('commit needs an array of staged parts');
  const names = new Set<string>();
  for (const p of parts) {
    if (!p || typeof p.ref !== 'string' || typeof p.sha256 !== 'string' || typeof p.size !== 'number') throw invalid('commit: malformed part descriptor');
    validateName('part', p.name);
    if (names.has(p.name)) throw invalid(`commit: part ${p.name} listed twice`);
    names.add(p.name);
  }
}

/** The one validation of a staged part (writer and stager): time, part name, size limit. */
function guardStage(st: Pick<CheckpointStager, 'stage'>, life: Life, w: string): CheckpointStager['stage'] {
  return (t, part, bytes, o = {}) =>
    run(life, `${w} stage`, o.signal, async () => {
      validateTime(t);
      validateName('part', part);
      checkBytes(bytes, LIMITS.checkpointPartBytes, `checkpoint part ${part}`);
      return st.stage(t, part, bytes, o);
    });
}

function guardCheckpoints(r: CheckpointStore, life: Life): CheckpointStore {
  const w = `checkpoints ${r.name}`;
  return {
    ...guardReader<Checkpoint>(r, life, 'checkpoints'),
    numRetained: r.numRetained,
    readPart: (t, part, o = {}) =>
      run(life, `${w} readPart`, o.signal, async () => {
        validateTime(t);
        validateName('part', part);
        return r.readPart(t, part, o);
      }),
    // Synchronous and without I/O: a bad epoch or a closed store throws here, at once.
    stager: (epoch) => {
      life.check();
      const st = r.stager(validateEpoch(epoch));
      const g: CheckpointStager = { epoch: st.epoch, stage: guardStage(st, life, w) };
      return g;
    },
    writer: (epoch, o = {}) =>
      run(life, `${w} writer`, o.signal, async () => {
        const wr = await r.writer(validateEpoch(epoch), o);
        const g: CheckpointWriter = {
          epoch: wr.epoch,
          stage: guardStage(wr, life, w),
          commit: (t, parts, o2 = {}) =>
            run(life, `${w} commit`, o2.signal, async () => {
              validateTime(t);
              checkPartsList(parts);
              if (o2.meta !== undefined && (typeof o2.meta !== 'object' || o2.meta === null)) throw invalid('commit meta must be an object');
              return wr.commit(t, parts, o2);
            }),
          append: (t, bytes, o2 = {}) =>
            run(life, `${w} append`, o2.signal, async () => {
              validateTime(t);
              checkBytes(bytes, LIMITS.checkpointPartBytes, 'checkpoint state');
              return wr.append(t, bytes, o2);
            }),
          truncateAfter: (t, o2 = {}) => run(life, `${w} truncateAfter`, o2.signal, async () => wr.truncateAfter(validateTime(t), o2)),
          truncateBefore: (t, o2 = {}) => run(life, `${w} truncateBefore`, o2.signal, async () => wr.truncateBefore(validateTime(t), o2)),
        };
        return g;
      }),
  };
}

function checkLogQuery(q: LogQuery): void {
  if (typeof q !== 'object' || q === null) throw invalid('log query must be an object');
  if (q.from !== undefined) validateTime(q.from, 'from');
  if (q.to !== undefined) validateTime(q.to, 'to');
  if (q.minLevel !== undefined && !isLogLevel(q.minLevel)) throw invalid(`unknown level ${String(q.minLevel)}`);
  if (q.order !== undefined && q.order !== 'asc' && q.order !== 'desc') throw invalid(`order must be asc or desc`);
  if (q.text !== undefined && typeof q.text !== 'string') throw invalid('text must be a string');
  checkLimit(q.limit);
  checkLabels(q.labels, 'query');
}

/** Wraps an async iterable so errors are StorageErrors and a closed store ends it with STORAGE_CLOSED. */
async function* guardIterable<T>(life: Life, what: string, src: AsyncIterable<T>): AsyncIterable<T> {
  try {
    for await (const x of src) {
      life.check();
      yield x;
    }
  } catch (err) {
    throw toStorageError(err, what);
  }
}

/**
 * follow() starts at the call, not at the first read: backends' follow is usually an
 * async generator whose body (which notes "what exists now") runs only on the first
 * next(). Asking for the first record right away pins the starting point at the call, so
 * records appended between the call and the first read are delivered. The early result is
 * held (a failure included, marked handled so it cannot crash the process) until read.
 */
function startNow<T>(src: AsyncIterable<T>): AsyncIterable<T> {
  const it = src[Symbol.asyncIterator]();
  let first: Promise<IteratorResult<T>> | undefined = it.next();
  first.catch(() => undefined);
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        const p = first ?? it.next();
        first = undefined;
        return p;
      },
      return: async (value?: unknown) => {
        first = undefined;
        return (await it.return?.(value)) ?? { done: true, value: undefined as T };
      },
    }),
  };
}

function guardLogs(r: LogStore, life: Life): LogStore {
  return {
    append: (records, o = {}) =>
      run(life, 'logs append', o.signal, async () => {
        checkBatch(records, 'logs append');
        records.forEach(checkLogRecord);
        if (records.length > 0) await r.append(records, o);
      }),
    query: (q, o = {}) =>
      run(life, 'logs query', o.signal, async () => {
        checkLogQuery(q);
        return r.query(q, o);
      }),
    follow: (q, o = {}) => {
      life.check();
      checkLogQuery(q);
      return guardIterable(life, 'logs follow', startNow(r.follow(q, o)));
    },
    stats: (o = {}) => run(life, 'logs stats', o.signal, () => r.stats(o)),
    deleteBefore: (t, o = {}) => run(life, 'logs deleteBefore', o.signal, async () => r.deleteBefore(validateTime(t), o)),
  };
}

function guardMetrics(r: MetricsStore, life: Life): MetricsStore {
  return {
    write: (points, o = {}) =>
      run(life, 'metrics write', o.signal, async () => {
        checkBatch(points, 'metrics write');
        points.forEach(checkPoint);
        if (points.length > 0) await r.write(points, o);
      }),
    query: (q: MetricQuery, o = {}) =>
      run(life, 'metrics query', o.signal, async () => {
        if (typeof q !== 'object' || q === null || typeof q.name !== 'string') throw invalid('metrics query needs a name');
        validateTime(q.from, 'from');
        validateTime(q.to, 'to');
        if (q.to <= q.from) throw invalid(`metrics query: to (${q.to}) must be after from (${q.from})`);
        if (q.step !== undefined && (!Number.isSafeInteger(q.step) || q.step < 1)) throw invalid('step must be a positive integer (ms)');
        if (q.step !== undefined && (q.to - q.from) / q.step > 100_000) throw invalid('metrics query: more than 100000 buckets');
        if (q.agg !== undefined && !['avg', 'min', 'max', 'sum', 'count', 'last', 'p50', 'p90', 'p99'].includes(q.agg)) throw invalid(`unknown agg ${q.agg}`);
        if (q.resolution !== undefined && !['auto', 'raw', '1m', '1h'].includes(q.resolution)) throw invalid(`unknown resolution ${q.resolution}`);
        checkLabels(q.labels, 'query');
        return r.query(q, o);
      }),
    listSeries: (f = {}, o = {}) => run(life, 'metrics listSeries', o.signal, () => r.listSeries(f, o)),
    deleteBefore: (t, o = {}) =>
      run(life, 'metrics deleteBefore', o.signal, async () => {
        if (o.resolution !== undefined && !['raw', '1m', '1h'].includes(o.resolution)) throw invalid(`unknown resolution ${o.resolution}`);
        return r.deleteBefore(validateTime(t), o);
      }),
  };
}

function guardConfig(r: ConfigStore, life: Life): ConfigStore {
  const checkVersionArg = (v: number | undefined): void => {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw invalid(`ifVersion must be a non-negative integer`);
  };
  return markConfigPolicy({
    get: (id, o = {}) => run(life, `config get ${id}`, o.signal, async () => r.get(validateName('processor', id), o)),
    set: (id, value, o = {}) =>
      run(life, `config set ${id}`, o.signal, async () => {
        validateName('processor', id);
        checkVersionArg(o.ifVersion);
        let json: string | undefined;
        try {
          json = JSON.stringify(value);
        } catch (err) {
          throw new StorageError(`config ${id}: value is not JSON-serialisable`, { code: 'STORAGE_INVALID_ARGUMENT', cause: err });
        }
        if (json === undefined) throw invalid(`config ${id}: value is not JSON-serialisable`);
        if (Buffer.byteLength(json) > LIMITS.configValueBytes) {
          throw new StorageError(`config ${id}: value is larger than ${LIMITS.configValueBytes} bytes`, { code: 'STORAGE_TOO_LARGE' });
        }
        // Store exactly what JSON can carry, so every backend returns the same value.
        return r.set(id, JSON.parse(json), o);
      }),
    list: (o = {}) => run(life, 'config list', o.signal, () => r.list(o)),
    delete: (id, o = {}) =>
      run(life, `config delete ${id}`, o.signal, async () => {
        validateName('processor', id);
        checkVersionArg(o.ifVersion);
        await r.delete(id, o);
      }),
  });
}

function checkSha(x: string | undefined): void {
  if (x !== undefined && !/^[0-9a-f]{64}$/.test(x)) throw invalid('expectedSha256 must be 64 lower-case hex characters');
}

function guardJars(r: BackendJarStore, life: Life): JarStore {
  const jars: JarStore = {
    put: (name, source, o: TransferOptions = {}) =>
      run(life, `jar put ${name}`, o.signal, async () => {
        validateName('jar', name);
        checkSha(o.expectedSha256);
        if (!(source instanceof Uint8Array) && !(source && typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function')) {
          throw invalid('jar source must be a Uint8Array or an async iterable of chunks');
        }
        return r.put(name, source, o);
      }),
    get: (name, o: TransferOptions = {}) =>
      run(life, `jar get ${name}`, o.signal, async () => guardIterable(life, `jar get ${name}`, await r.get(validateName('jar', name), o))),
    stat: (name, o = {}) => run(life, `jar stat ${name}`, o.signal, async () => r.stat(validateName('jar', name), o)),
    list: (o = {}) => run(life, 'jar list', o.signal, () => r.list(o)),
    delete: (name, o = {}) => run(life, `jar delete ${name}`, o.signal, async () => r.delete(validateName('jar', name), o)),
    copyFromLocal: (path, name, o: TransferOptions = {}) =>
      run(life, `jar copyFromLocal ${name}`, o.signal, async () => {
        validateName('jar', name);
        if (r.copyFromLocal) return r.copyFromLocal(path, name, o);
        const st = await stat(path).catch((err: unknown) => {
          throw new StorageError(`cannot read ${path}: ${(err as Error).message}`, { code: 'STORAGE_NOT_FOUND', cause: err });
        });
        // 1 MiB reads: fewer syscalls than the 64 KiB default, bounded memory.
        return jars.put(name, createReadStream(path, { highWaterMark: 1 << 20 }), { ...o, size: o.size ?? st.size });
      }),
    copyToLocal: (name, path, o: TransferOptions = {}) =>
      run(life, `jar copyToLocal ${name}`, o.signal, async () => {
        validateName('jar', name);
        if (r.copyToLocal) return r.copyToLocal(name, path, o);
        const info = await r.stat(name, o);
        if (!info) throw new StorageError(`jar ${name} not found`, { code: 'STORAGE_NOT_FOUND' });
        // The body verifies its digest as it ends: a mismatch throws before the rename.
        await atomicWriteFile(path, await r.get(name, { ...o, size: info.size }), { mode: 0o644 });
        return info;
      }),
  };
  return jars;
}
