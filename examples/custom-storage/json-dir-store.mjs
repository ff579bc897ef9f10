/**
 * json-dir-store: a complete Sluice storage module in one plain-JavaScript file.
 *
 * This is the file to copy when you write your own backend. It keeps everything in a
 * directory: one JSON document per app per sub-store, rewritten atomically (temp file,
 * fsync, rename), plus content-addressed blob files for jars and one file per staged
 * checkpoint part. It passes the conformance suite for the capabilities it declares.
 *
 *   <dir>/apps/<appId>/app.json                 AppMeta
 *                      jars.json, blobs/<sha256> jar index + content
 *                      logs.json, metrics.json, config.json
 *                      offsets/<store>.json, checkpoints/<store>.json
 *                      parts/<store>/<ref>      staged checkpoint parts
 *   <dir>/tmp/    jar uploads in flight (same filesystem, so the final rename is atomic)
 *   <dir>/trash/  apps being deleted
 *
 * What you do NOT have to do: callers reach this through openStorage(), whose guard
 * validates names, times, sizes and queries, enforces the closed state and abort
 * signals, and adds jars.copyFromLocal/copyToLocal. Everything below may assume valid
 * input. The semantics mirror the in-memory reference backend (@sluice/storage-api/memory).
 *
 * Limits, declared honestly in CAPABILITIES: writes are serialised by an in-process
 * lock only, so two processes (or two hosts on a shared disk) must not write one
 * directory at once. Documents are rewritten whole, so it suits small and medium apps.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  Aggregator, HashingCounter, LIMITS, RESOLUTION_MS, ROLLUP_RESOLUTIONS, StorageError, addValue, afterCursor,
  chooseResolution, decodeCursor, effectiveLimit, emptyPartial, encodeCursor, isStorageError,
  iterateBytes, labelsMatch, lowerBound, matchesLogQuery, newAppMeta, resolveLookUp, seriesKey,
  sha256Hex, sleep, verifyingStream, atomicWriteFile,
  // the contract's policy: the same decisions and errors as every other backend
  appDeletedError, appExistsError, checkAppDeletable, checkJarDigest, checkJarReplaceable, jarNotFoundError, nextAppMeta,
} from '@sluice/storage-api';

/** @typedef {import('@sluice/storage-api').StorageCapabilities} StorageCapabilities */

/** @type {StorageCapabilities} */
const CAPABILITIES = Object.freeze({
  persistent: true, // a new instance on the same dir sees everything
  multiProcess: false, // the lock below is per process: no cross-process safety
  multiWriter: false, // fencing and create-only commits are atomic only within this process
  follow: true, // follow() polls the logs document, so it sees other instances' appends
  metricsRollups: true, // 1m and 1h rollups are kept next to the raw points
  boundedJarMemory: true, // jars stream to and from files chunk by chunk
});

// ---------------------------------------------------------------- options

/**
 * A zod-compatible schema without zod: openStorage() only calls safeParse().
 * @type {import('@sluice/storage-api').OptionsSchema<{ dir: string }>}
 */
const optionsSchema = {
  /** @param {any} input */
  safeParse(input) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return { success: false, error: { issues: [{ path: [], message: 'options must be an object like { dir: "./data" }' }] } };
    }
    const issues = [];
    if (typeof input.dir !== 'string' || input.dir.length === 0) {
      issues.push({ path: ['dir'], message: 'dir is required: a directory path (relative to the config file)' });
    }
    for (const key of Object.keys(input)) if (key !== 'dir') issues.push({ path: [key], message: `unknown option "${key}"` });
    return issues.length > 0 ? { success: false, error: { issues } } : { success: true, data: { dir: input.dir } };
  },
};

// ---------------------------------------------------------------- errors

const fail = (code, message, details) => new StorageError(message, { code, details });

// Fencing, ordering and commit errors, the new-app record, the commit checks and retention are the
// contract's policy: they come from @sluice/storage-api, not restated here.

/**
 * Maps Node's fs errors to contract codes. `transient` follows from the code:
 * STORAGE_UNAVAILABLE is retried by callers (withRetry), the others are not.
 */
function fsError(err, what) {
  if (isStorageError(err)) return err;
  const code = {
    EACCES: 'STORAGE_PERMISSION_DENIED', EPERM: 'STORAGE_PERMISSION_DENIED', EROFS: 'STORAGE_PERMISSION_DENIED',
    EMFILE: 'STORAGE_UNAVAILABLE', ENFILE: 'STORAGE_UNAVAILABLE', EBUSY: 'STORAGE_UNAVAILABLE', EAGAIN: 'STORAGE_UNAVAILABLE',
  }[err?.code] ?? 'STORAGE_IO_ERROR';
  return new StorageError(`${what}: ${err?.message ?? String(err)}`, { code, cause: err });
}

// ---------------------------------------------------------------- files

/** Reads a JSON document; undefined if it does not exist. */
async function readJson(file) {
  const text = await readFile(file, 'utf8').catch((err) => {
    if (err.code === 'ENOENT') return undefined;
    throw fsError(err, `read ${file}`);
  });
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StorageError(`${file} is not valid JSON`, { code: 'STORAGE_CORRUPT', cause: err });
  }
}

/** Opens, runs fn with the handle, always closes. */
async function withFile(path, flags, fn) {
  const fh = await open(path, flags);
  try {
    return await fn(fh);
  } finally {
    await fh.close();
  }
}

/** Crash-safe replace (storage-api's atomicWriteFile): readers see the old or the new content, never a torn file. */
async function writeFileAtomic(file, data) {
  try {
    await atomicWriteFile(file, data);
  } catch (err) {
    throw fsError(err, `write ${file}`);
  }
}

const writeJson = (file, value) => writeFileAtomic(file, JSON.stringify(value));

/** A rename is durable only once its directory is synced. */
async function syncDir(dir) {
  // Best effort: Windows cannot fsync a directory (the rename is still atomic there).
  await withFile(dir, 'r', (fh) => fh.sync()).catch(() => undefined);
}

const exists = (file) => stat(file).then(() => true, () => false);

/**
 * A promise-chain mutex per key (an app's directory), shared by every instance in this
 * process so a reopened instance on the same dir stays consistent. Every read-check-write
 * (fencing, compare-and-set, create-only commit) runs inside it.
 */
const queues = new Map();
function withLock(key, fn) {
  const run = (queues.get(key) ?? Promise.resolve()).then(() => fn());
  const tail = run.then(() => undefined, () => undefined);
  queues.set(key, tail);
  void tail.then(() => queues.get(key) === tail && queues.delete(key));
  return run;
}

// ---------------------------------------------------------------- storage and apps

// The guard hands `capabilities` through by reference, so this object identifies an
// instance even behind openStorage(); testHooks.corrupt uses it to find the directory.
const instances = new WeakMap();

class JsonDirStorage {
  backend = 'json-dir-store';
  closed = false;

  constructor(root, context) {
    this.root = root;
    this.context = context;
    this.capabilities = Object.freeze({ ...CAPABILITIES });
    instances.set(this.capabilities, this);
  }

  appDir(appId) {
    return join(this.root, 'apps', appId);
  }

  createAppStorage(appName, appId, options) {
    const dir = this.appDir(appId);
    return withLock(dir, async () => {
      if (await exists(join(dir, 'app.json'))) throw appExistsError(appId);
      const now = this.context.now();
      const meta = newAppMeta(appName, appId, options, now);
      await writeJson(join(dir, 'app.json'), meta); // app.json is what makes the app exist
      return new JsonDirApp(this, dir, meta, await dirIdentity(dir));
    });
  }

  async getAppStorage(appId) {
    const dir = this.appDir(appId);
    const meta = await readJson(join(dir, 'app.json'));
    return meta && new JsonDirApp(this, dir, meta, await dirIdentity(dir));
  }

  async listApps() {
    const ids = await readdir(join(this.root, 'apps')).catch(() => []);
    const metas = await Promise.all(ids.map((id) => readJson(join(this.appDir(id), 'app.json'))));
    return metas.filter(Boolean).sort((a, b) => (a.appId < b.appId ? -1 : 1));
  }

  deleteAppStorage(appId) {
    const dir = this.appDir(appId);
    return withLock(dir, async () => {
      const meta = await readJson(join(dir, 'app.json'));
      // Absent: NOT_FOUND; a running app owns its data: IN_USE rather than pull it away.
      checkAppDeletable(appId, meta);
      // One rename makes every sub-store vanish at once; the files go afterwards.
      const doomed = join(this.root, 'trash', `${appId}.${randomUUID()}`);
      try {
        await mkdir(dirname(doomed), { recursive: true });
        await rename(dir, doomed);
      } catch (err) {
        throw fsError(err, `delete app ${appId}`);
      }
      await rm(doomed, { recursive: true, force: true });
    });
  }

  async close() {
    this.closed = true; // ends follow() loops; the guard refuses every other call from now on
  }
}

/**
 * Which incarnation of an app directory this is: delete renames the directory away, so a
 * re-created app of the same id has a new directory (inode and birth time; inode numbers
 * alone can be reused).
 */
async function dirIdentity(dir) {
  try {
    const st = await stat(dir, { bigint: true });
    return `${st.dev}:${st.ino}:${st.birthtimeNs}`;
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw fsError(err, `stat ${dir}`);
  }
}

class JsonDirApp {
  constructor(storage, dir, meta, identity) {
    this.storage = storage;
    this.dir = dir;
    this.identity = identity;
    this.appId = meta.appId;
    this.appName = meta.appName;
    this.jars = new JarStore(this);
    this.logs = new LogStore(this);
    this.metrics = new MetricsStore(this);
    this.config = new ConfigStore(this);
  }

  file(...parts) {
    return join(this.dir, ...parts);
  }

  now() {
    return this.storage.context.now();
  }

  /**
   * Runs a write under the app's lock, and only while the app exists, so a handle kept
   * across deleteAppStorage cannot resurrect it. fn gets the current AppMeta.
   */
  mutate(fn) {
    return withLock(this.dir, async () => {
      // A handle kept across delete and re-create must not write into the new app.
      if ((await dirIdentity(this.dir)) !== this.identity) throw appDeletedError(this.appId);
      return fn(await this.meta());
    });
  }

  async meta() {
    const meta = await readJson(this.file('app.json'));
    if (!meta) throw appDeletedError(this.appId);
    return meta;
  }

  updateMeta(patch, options = {}) {
    return this.mutate(async (meta) => {
      // Compare-and-set (ifVersion must be the version the caller read), version bump, clock:
      // storage-api's policy decides; this module reads and writes under its lock.
      const next = nextAppMeta(meta, patch, options.ifVersion, this.now());
      await writeJson(this.file('app.json'), next);
      return next;
    });
  }

  offsets(name) {
    return new OffsetStore(this, name);
  }

  checkpoints(name) {
    return new CheckpointStore(this, name);
  }

  async listTimeStores(kind) {
    const files = await readdir(this.file(kind)).catch(() => []);
    return files.filter((f) => f.endsWith('.json') && !f.startsWith('.')).map((f) => f.slice(0, -5)).sort();
  }

  async close() {} // no handles are held between calls
}

/**
 * One JSON document of an app. change() is the only way to write it: lock, load, let
 * fn(doc, meta) modify it, rewrite the whole document atomically.
 */
class Doc {
  constructor(app, file, empty) {
    this.app = app;
    this.file = file;
    this.empty = empty;
  }

  async load() {
    return (await readJson(this.file)) ?? this.empty();
  }

  change(fn) {
    return this.app.mutate(async (meta) => {
      const doc = await this.load();
      const result = await fn(doc, meta);
      await writeJson(this.file, doc);
      return result;
    });
  }
}

// ---------------------------------------------------------------- jars


/** jars.json is { jars: [JarInfo] } (an array: "__proto__" is a valid jar name); content lives in blobs/<sha256>. */
class JarStore extends Doc {
  constructor(app) {
    super(app, app.file('jars.json'), () => ({ jars: [] }));
  }

  #blob(sha256) {
    return this.app.file('blobs', sha256);
  }

  async put(name, source, options = {}) {
    // Stream into a temp file while hashing: never the whole jar in memory.
    const tmp = join(this.app.storage.root, 'tmp', `${randomUUID()}.upload`);
    const counter = new HashingCounter(options.onProgress, options.size);
    try {
      await mkdir(dirname(tmp), { recursive: true });
      await withFile(tmp, 'w', async (fh) => {
        for await (const chunk of counter.wrap(iterateBytes(source, options.signal))) {
          for (let off = 0; off < chunk.byteLength; ) off += (await fh.write(chunk, off)).bytesWritten;
        }
        await fh.sync();
      });
      const { sha256, size } = counter.result();
      checkJarDigest(name, sha256, options.expectedSha256);
      // Only now, with the content complete and durable, does the name move to it.
      return await this.app.mutate(async (meta) => {
        checkJarReplaceable(meta, name);
        const blob = this.#blob(sha256);
        if (!(await exists(blob))) {
          await mkdir(dirname(blob), { recursive: true });
          await rename(tmp, blob); // identical content is stored once
          await syncDir(dirname(blob));
        }
        const index = await this.load();
        const old = index.jars.find((j) => j.name === name);
        const info = { name, sha256, size, createdAt: this.app.now() };
        index.jars = [...index.jars.filter((j) => j !== old), info];
        await writeJson(this.file, index);
        if (old) await this.#dropUnreferenced(index, old.sha256);
        return { ...info };
      });
    } catch (err) {
      throw fsError(err, `jar put ${name}`);
    } finally {
      await rm(tmp, { force: true }); // already gone if it became the blob
    }
  }

  async get(name, options = {}) {
    const info = await this.stat(name);
    if (!info) throw jarNotFoundError(name);
    // Opened here, not lazily, so a missing blob rejects this promise.
    const fh = await open(this.#blob(info.sha256), 'r').catch((err) => {
      throw err.code === 'ENOENT' ? jarNotFoundError(name) : fsError(err, `jar get ${name}`);
    });
    // Verify-on-read: the iteration throws STORAGE_CORRUPT at the end if the bytes rotted.
    return verifyingStream(fh.createReadStream(), { sha256: info.sha256, size: info.size, what: `jar ${name}` }, options);
  }

  async stat(name) {
    return (await this.load()).jars.find((j) => j.name === name);
  }

  async list() {
    return (await this.load()).jars.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  delete(name) {
    return this.app.mutate(async (meta) => {
      const index = await this.load();
      const info = index.jars.find((j) => j.name === name);
      if (!info) throw jarNotFoundError(name);
      checkJarReplaceable(meta, name);
      index.jars = index.jars.filter((j) => j !== info);
      await writeJson(this.file, index);
      await this.#dropUnreferenced(index, info.sha256);
    });
  }

  // Index first, blob second (still under the lock): a crash in between leaves an
  // orphan blob, never a name without content.
  async #dropUnreferenced(index, sha256) {
    if (!index.jars.some((j) => j.sha256 === sha256)) await rm(this.#blob(sha256), { force: true });
  }
}

// ---------------------------------------------------------------- offsets and checkpoints

/**
 * Shared by offsets and checkpoints: the document is { epoch, entries } with entries
 * sorted by t; decode() turns a stored entry into what callers get.
 */
class TimeStore extends Doc {
  constructor(app, kind, name) {
    super(app, app.file(kind, `${name}.json`), () => ({ epoch: 0, entries: [] }));
    this.name = name;
  }

  decode(entry) {
    return entry;
  }

  async #at(pick) {
    const { entries } = await this.load();
    const i = pick(entries);
    return i >= 0 && i < entries.length ? this.decode(entries[i]) : undefined;
  }

  get(t) {
    return this.#at((a) => {
      const i = lowerBound(a, t);
      return a[i]?.t === t ? i : -1;
    });
  }
  /** Last entry with time ≤ t. */
  floor(t) {
    return this.#at((a) => lowerBound(a, t + 1) - 1);
  }
  first() {
    return this.#at(() => 0);
  }
  last() {
    return this.#at((a) => a.length - 1);
  }
  lookUp(t) {
    return resolveLookUp(t, () => this.first(), () => this.last(), (x) => this.#at((a) => lowerBound(a, x)));
  }

  async range(from, to, options = {}) {
    const { entries } = await this.load();
    const out = [];
    const limit = options.limit ?? LIMITS.maxLimit;
    for (let i = lowerBound(entries, from); i < entries.length && entries[i].t < to && out.length < limit; i++) out.push(this.decode(entries[i]));
    return out;
  }

  async currentEpoch() {
    return (await this.load()).epoch;
  }
}

/** Removes entries matching `pred`; returns them. */
function removeWhere(doc, pred) {
  const gone = doc.entries.filter(pred);
  doc.entries = doc.entries.filter((e) => !pred(e));
  return gone;
}

/**
 * Offsets: only I/O. storage-api owns the policy (fencing, ordering, identical retries)
 * and a checksum inside each value; each write hook hands the state it read under the
 * lock to the callback it is given and stores exactly what that returns.
 */
class OffsetStore extends TimeStore {
  constructor(app, name) {
    super(app, 'offsets', name);
  }

  decode(e) {
    return { t: e.t, value: new Uint8Array(Buffer.from(e.value, 'base64')) };
  }

  /** First entry with time ≥ t. */
  async ceiling(t) {
    const { entries } = await this.load();
    const e = entries[lowerBound(entries, t)];
    return e && this.decode(e);
  }

  openEpoch(epoch, decide) {
    return this.change((doc) => {
      decide(doc.epoch);
      // Written even at an equal epoch: the store then shows up in listTimeStores.
      doc.epoch = Math.max(doc.epoch, epoch);
    });
  }

  append(_firstT, plan) {
    return this.change((doc) => {
      const last = doc.entries[doc.entries.length - 1];
      const add = plan({ epoch: doc.epoch, last: last && this.decode(last) });
      for (const e of add) doc.entries.push({ t: e.t, value: Buffer.from(e.value).toString('base64') });
    });
  }

  truncate(side, t, check) {
    return this.change((doc) => {
      check(doc.epoch);
      return removeWhere(doc, (e) => (side === 'after' ? e.t > t : e.t < t)).length;
    });
  }
}

// A part's file is its ref with '/' as '~' (stage() makes refs `${t}/${part}/${uuid}`).
// The same safe alphabet as names plus '~', so a forged ref cannot point elsewhere.
const fileOfRef = (ref) => ref.replaceAll('/', '~');
const refOfFile = (file) => file.replaceAll('~', '/');
const isSafePartFile = (file) => /^[A-Za-z0-9_][A-Za-z0-9._@=~-]*$/.test(file) && !file.includes('..');

/**
 * Checkpoints: only I/O. storage-api owns the policy (fencing, ordering, identical
 * retries, the staged/descriptor checks, retention and the sweep of parts that can no
 * longer be committed); each write hook runs under the app's lock, hands the state it
 * read to the callback and does exactly what that returns.
 */
class CheckpointStore extends TimeStore {
  constructor(app, name) {
    super(app, 'checkpoints', name);
    this.partsDir = app.file('parts', name);
  }

  openEpoch(epoch, decide) {
    return this.change((doc) => {
      decide(doc.epoch);
      doc.epoch = Math.max(doc.epoch, epoch); // written even when equal: the store shows up in listTimeStores
    });
  }

  // Each part gets a fresh, never reused file, invisible until a commit lists it.
  stage(t, part, bytes, check) {
    const ref = `${t}/${part.name}/${randomUUID()}`;
    return this.change(async (doc) => {
      check(doc.epoch);
      await writeFileAtomic(join(this.partsDir, fileOfRef(ref)), bytes);
      return ref;
    });
  }

  async readStaged(ref) {
    const file = fileOfRef(ref);
    if (!isSafePartFile(file)) return undefined;
    return readFile(join(this.partsDir, file)).catch((err) => {
      if (err.code === 'ENOENT') return undefined;
      throw fsError(err, `read part ${ref}`);
    });
  }

  commit(cp, plan, retain) {
    let removeFiles = [];
    return this.change(async (doc) => {
      const staged = new Map();
      for (const p of cp.parts) {
        const bytes = await this.readStaged(p.ref);
        if (bytes) staged.set(p.ref, { size: bytes.byteLength, sha256: sha256Hex(bytes) });
      }
      const r = plan({ epoch: doc.epoch, atT: doc.entries.find((c) => c.t === cp.t), last: doc.entries[doc.entries.length - 1], staged }, this.app.now());
      if (r.store) doc.entries.push(r.checkpoint);
      removeFiles = await this.#prune(doc, retain);
      return r.checkpoint;
    }).then(async (checkpoint) => {
      await this.#removeFiles(removeFiles); // only after the saved manifest stopped listing them
      return checkpoint;
    });
  }

  async prune(plan) {
    let removeFiles = [];
    const n = await this.change(async (doc) => {
      const before = doc.entries.length;
      removeFiles = await this.#prune(doc, plan);
      return before - doc.entries.length;
    });
    await this.#removeFiles(removeFiles);
    return n;
  }

  /** Under the lock: drops the manifests the plan names from doc; returns the part files to remove once doc is saved. */
  async #prune(doc, plan) {
    const files = await readdir(this.partsDir).catch((err) => {
      if (err.code === 'ENOENT') return [];
      throw fsError(err, `list ${this.partsDir}`);
    });
    const staged = files.filter(isSafePartFile).map(refOfFile).map((ref) => ({ ref, t: Number(ref.split('/', 1)[0]) }));
    const r = plan({ epoch: doc.epoch, committed: doc.entries.map((c) => ({ t: c.t, refs: c.parts.map((p) => p.ref) })), staged });
    const gone = new Set(r.manifests);
    removeWhere(doc, (c) => gone.has(c.t));
    return r.refs.map(fileOfRef);
  }

  async #removeFiles(files) {
    await Promise.all(files.map((f) => rm(join(this.partsDir, f), { force: true })));
  }
}

// ---------------------------------------------------------------- logs

// Fixed width so string order is numeric order (the cursor's tie-breaker).
const seqStr = (seq) => seq.toString().padStart(16, '0');

/** logs.json is { lastSeq, records: [{ seq, bytes, record }] } in arrival (seq) order. */
class LogStore extends Doc {
  constructor(app) {
    super(app, app.file('logs.json'), () => ({ lastSeq: 0, records: [] }));
  }

  append(records) {
    return this.change((doc) => {
      for (const record of records) doc.records.push({ seq: ++doc.lastSeq, bytes: JSON.stringify(record).length, record });
    });
  }

  async query(q) {
    const order = q.order ?? 'asc';
    const cursor = q.cursor ? decodeCursor(q.cursor) : undefined;
    const limit = effectiveLimit(q.limit);
    const rows = (await this.load()).records
      .filter((e) => matchesLogQuery(e.record, q) && (!cursor || afterCursor(e.record.ts, seqStr(e.seq), { ...cursor, order })))
      .sort((a, b) => (a.record.ts - b.record.ts || a.seq - b.seq) * (order === 'asc' ? 1 : -1));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      records: page.map((e) => e.record),
      // A cursor only while more records match: the last page has none.
      cursor: rows.length > limit && last ? encodeCursor({ ts: last.record.ts, seq: seqStr(last.seq), order }) : undefined,
    };
  }

  /** Polls the document, so it also sees what other instances append. */
  async *follow(q, options = {}) {
    // Arrival order is seq order; start after what exists now unless `from` asks for history.
    let seen = q.from === undefined ? (await this.load()).lastSeq : 0;
    while (!options.signal?.aborted && !this.app.storage.closed) {
      for (const e of (await this.load()).records) {
        if (e.seq <= seen) continue;
        seen = e.seq;
        if (matchesLogQuery(e.record, q)) yield e.record;
      }
      try {
        await sleep(options.pollIntervalMs ?? 500, options.signal);
      } catch {
        return; // aborted: the tail just ends
      }
    }
  }

  async stats() {
    const { records } = await this.load();
    const ts = records.map((e) => e.record.ts);
    return {
      count: records.length,
      bytes: records.reduce((n, e) => n + e.bytes, 0),
      oldestTs: ts.length > 0 ? Math.min(...ts) : undefined,
      newestTs: ts.length > 0 ? Math.max(...ts) : undefined,
    };
  }

  deleteBefore(t) {
    return this.change((doc) => {
      const before = doc.records.length;
      doc.records = doc.records.filter((e) => e.record.ts >= t);
      return before - doc.records.length;
    });
  }
}

// ---------------------------------------------------------------- metrics

/**
 * metrics.json is { series: { [seriesKey]: { name, labels, kind, points: [[ts, value]] } },
 * rollups: { '1m': { [seriesKey]: { [bucketTs]: partial } }, '1h': ... } }. Rollups are
 * updated on write, so they outlive deleted raw points (each resolution has its own retention).
 */
class MetricsStore extends Doc {
  constructor(app) {
    super(app, app.file('metrics.json'), () => ({ series: {}, rollups: { '1m': {}, '1h': {} } }));
  }

  write(points) {
    return this.change((doc) => {
      for (const p of points) {
        const key = seriesKey(p.name, p.labels); // a JSON array string: safe as an object key
        const s = (doc.series[key] ??= { name: p.name, labels: { ...p.labels }, kind: p.kind, points: [] });
        s.points.push([p.ts, p.value]);
        for (const r of ROLLUP_RESOLUTIONS) {
          const ms = RESOLUTION_MS[r];
          const buckets = (doc.rollups[r][key] ??= {});
          addValue((buckets[Math.floor(p.ts / ms) * ms] ??= emptyPartial()), p.ts, p.value, false);
        }
      }
    });
  }

  async query(q) {
    const doc = await this.load();
    const res = chooseResolution(q); // raw for percentiles, else the coarsest rollup that fits
    const agg = new Aggregator(q);
    for (const [key, s] of Object.entries(doc.series)) {
      if (s.name !== q.name || !labelsMatch(s.labels, q.labels)) continue;
      const rows = res === 'raw' ? s.points : Object.entries(doc.rollups[res][key] ?? {}).map(([b, part]) => [Number(b), part]);
      for (const [ts, v] of rows) {
        if (ts < q.from || ts >= q.to) continue;
        if (res === 'raw') agg.addRaw(s.labels, ts, v);
        else agg.addRollup(s.labels, ts, v);
      }
    }
    return agg.result();
  }

  async listSeries(filter = {}) {
    return Object.values((await this.load()).series)
      .filter((s) => (!filter.name || s.name === filter.name) && labelsMatch(s.labels, filter.labels))
      .map(({ name, labels, kind }) => ({ name, labels, kind }));
  }

  deleteBefore(t, options = {}) {
    const res = options.resolution ?? 'raw';
    return this.change((doc) => {
      let n = 0;
      if (res === 'raw') {
        for (const s of Object.values(doc.series)) {
          const before = s.points.length;
          s.points = s.points.filter(([ts]) => ts >= t);
          n += before - s.points.length;
        }
      } else {
        for (const buckets of Object.values(doc.rollups[res])) {
          for (const b of Object.keys(buckets)) if (Number(b) < t && delete buckets[b]) n++;
        }
      }
      return n;
    });
  }
}

// ---------------------------------------------------------------- config

/**
 * config.json is { entries: [ConfigEntry] }. Only I/O: storage-api owns versions,
 * compare-and-set and a checksum inside each value; put/remove hand the current entry (read under the lock) to its callback.
 */
class ConfigStore extends Doc {
  constructor(app) {
    super(app, app.file('config.json'), () => ({ entries: [] }));
  }

  async get(processorId) {
    return (await this.load()).entries.find((e) => e.processorId === processorId);
  }

  async list() {
    return (await this.load()).entries;
  }

  put(processorId, next) {
    return this.change((doc) => {
      const cur = doc.entries.find((e) => e.processorId === processorId);
      doc.entries = [...doc.entries.filter((e) => e !== cur), next(cur, this.app.now())];
    });
  }

  remove(processorId, check) {
    return this.change((doc) => {
      const cur = doc.entries.find((e) => e.processorId === processorId);
      check(cur);
      doc.entries = doc.entries.filter((e) => e !== cur);
    });
  }
}

// ---------------------------------------------------------------- the module

/** @type {import('@sluice/storage-api').StorageModule<{ dir: string }>} */
const jsonDirStore = {
  name: 'json-dir-store',
  capabilities: CAPABILITIES,
  // The contract shape this module implements (a literal: it must not follow a bump).
  contractVersion: 2,
  optionsSchema,
  async create(options, context) {
    const root = resolve(context.baseDir, options.dir);
    try {
      await mkdir(join(root, 'apps'), { recursive: true }); // a fresh dir is fine: created on first use
    } catch (err) {
      throw fsError(err, `create ${root}`);
    }
    return new JsonDirStorage(root, context);
  },
  testHooks: {
    /** Flips a byte of a stored jar, checkpoint part or offset value behind the backend's back. */
    async corrupt(storage, target) {
      const instance = instances.get(storage.capabilities);
      if (!instance) throw new TypeError('corrupt() needs a storage opened from json-dir-store');
      const dir = instance.appDir(target.appId);
      let file;
      if ('jar' in target) {
        const info = (await readJson(join(dir, 'jars.json')))?.jars.find((j) => j.name === target.jar);
        file = info && join(dir, 'blobs', info.sha256);
      } else if ('config' in target) {
        const docFile = join(dir, 'config.json');
        const text = await readFile(docFile, 'utf8').catch(() => undefined);
        if (!text?.includes(target.from)) throw fail('STORAGE_NOT_FOUND', `nothing stored for ${JSON.stringify(target)}`);
        return writeFile(docFile, text.replace(target.from, target.to));
      } else if ('offsets' in target) {
        const docFile = join(dir, 'offsets', `${target.offsets}.json`);
        const doc = await readJson(docFile);
        const e = doc?.entries.find((x) => x.t === target.t);
        if (!e) throw fail('STORAGE_NOT_FOUND', `nothing stored for ${JSON.stringify(target)}`);
        const value = Buffer.from(e.value, 'base64');
        value[value.length - 1] ^= 0xff;
        e.value = value.toString('base64');
        return writeJson(docFile, doc);
      } else {
        const cp = (await readJson(join(dir, 'checkpoints', `${target.store}.json`)))?.entries.find((c) => c.t === target.t);
        const part = cp?.parts.find((p) => p.name === target.part);
        file = part && join(dir, 'parts', target.store, part.ref.replaceAll('/', '~'));
      }
      if (!file) throw fail('STORAGE_NOT_FOUND', `nothing stored for ${JSON.stringify(target)}`);
      const bytes = await readFile(file);
      if (bytes.length === 0) return writeFile(file, Buffer.from([0])); // empty content: any byte is corruption
      bytes[0] ^= 0xff;
      await writeFile(file, bytes);
    },
  },
};

export default jsonDirStore;
