// The reference (memory) backend over a volume that lives in one file, so several
// processes see the same data: every backend call loads the file, runs the memory hook and
// writes the file back (tmp + rename), with a simulated store round trip in between.
// `crossProcessLock` decides whether that read-decide-write is atomic across processes
// (a lock directory next to the file) or only inside one (a promise chain per file): the
// only difference between the control module and the wrong one.
import { mkdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import memoryModule, { MEMORY_CAPABILITIES } from '@sluice/storage-api/memory';
import { StorageError } from '@sluice/storage-api';

const ROUND_TRIP_MS = 20;
const LOCK_BUDGET_MS = 20_000;
// Backend methods that return a handle synchronously (no I/O of their own).
const SYNC = new Set(['offsets', 'checkpoints']);
// Per file, per process: calls inside one process never interleave.
const chains = new Map();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Handles (class instances) are wrapped; plain results stay plain (callers clone them).
const isHandle = (x) => x !== null && typeof x === 'object' && ![Object.prototype, Array.prototype, null].includes(Object.getPrototypeOf(x)) && !ArrayBuffer.isView(x) && !(Symbol.asyncIterator in x);

function load(file, volume) {
  let stored;
  try {
    stored = deserialize(readFileSync(file));
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    stored = new Map();
  }
  // Keep the objects live handles point at: copy the stored state into them.
  for (const [id, app] of volume.apps) {
    const s = stored.get(id);
    if (!s || s.incarnation !== app.incarnation) {
      app.deleted = true;
      volume.apps.delete(id);
    }
  }
  for (const [id, s] of stored) {
    const app = volume.apps.get(id);
    if (app) Object.assign(app, s, { deleted: false });
    else volume.apps.set(id, s);
  }
}

function save(file, volume) {
  for (const app of volume.apps.values()) app.incarnation ??= randomUUID();
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, serialize(volume.apps));
  renameSync(tmp, file);
}

async function lockFile(file) {
  const dir = `${file}.lock`;
  const deadline = Date.now() + LOCK_BUDGET_MS;
  for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
    try {
      mkdirSync(dir);
      return () => rmdirSync(dir);
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      if (Date.now() > deadline) throw new StorageError(`${dir}: held for over ${LOCK_BUDGET_MS} ms`, { code: 'STORAGE_TIMEOUT' });
      await sleep(wait);
    }
  }
}

function inOrder(file, fn) {
  const run = (chains.get(file) ?? Promise.resolve()).then(fn);
  chains.set(file, run.catch(() => undefined));
  return run;
}

function synced(raw, file, crossProcessLock) {
  const op = (call, write) =>
    inOrder(file, async () => {
      const unlock = crossProcessLock ? await lockFile(file) : () => undefined;
      try {
        load(file, raw.volume);
        const out = await call();
        await sleep(ROUND_TRIP_MS);
        if (write) save(file, raw.volume);
        return out;
      } finally {
        unlock();
      }
    });

  // follow() polls the memory volume: refresh it from the file while a follow is open.
  const follow = (target) => (q, options = {}) => {
    const it = target.follow(q, options)[Symbol.asyncIterator]();
    const timer = setInterval(() => void op(async () => undefined, false).catch(() => undefined), 25);
    timer.unref();
    const stop = () => clearInterval(timer);
    options.signal?.addEventListener('abort', stop, { once: true });
    return {
      [Symbol.asyncIterator]() {
        return {
          next: async () => {
            const r = await it.next();
            if (r.done) stop();
            return r;
          },
          return: async (v) => {
            stop();
            return it.return ? it.return(v) : { done: true, value: v };
          },
        };
      },
    };
  };

  const wrap = (target) =>
    new Proxy(target, {
      get(t, k) {
        const v = Reflect.get(t, k, t);
        if (typeof k === 'symbol' || typeof v !== 'function') return k !== 'volume' && isHandle(v) ? wrap(v) : v;
        if (k === 'follow') return follow(t);
        if (SYNC.has(k)) return (...args) => wrap(v.apply(t, args));
        if (k === 'close') return (...args) => v.apply(t, args);
        return async (...args) => {
          const out = await op(() => v.apply(t, args), true);
          return isHandle(out) ? wrap(out) : out;
        };
      },
    });
  return wrap(raw);
}

/** A module over one file `<dir>/volume.bin`; it declares multiProcess and multiWriter (blobs live elsewhere in memory: not declared). */
export function fileVolumeModule(name, { crossProcessLock }) {
  const capabilities = Object.freeze({ ...MEMORY_CAPABILITIES, persistent: true, multiProcess: true, multiWriter: true, blobs: false });
  return {
    name,
    capabilities,
    optionsSchema: {
      safeParse: (o) =>
        o && typeof o === 'object' && typeof o.dir === 'string' && Object.keys(o).length === 1
          ? { success: true, data: o }
          : { success: false, error: { issues: [{ path: ['dir'], message: 'a directory (string) and nothing else' }] } },
    },
    async create(options, context) {
      const raw = await memoryModule.create({}, context);
      raw.capabilities = capabilities;
      mkdirSync(resolve(options.dir), { recursive: true });
      return synced(raw, resolve(options.dir, 'volume.bin'), crossProcessLock);
    },
  };
}
