import { isStorageError, type AppStorage, type Checkpoint } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import type { KeyedStateManifest } from '../state/heap-state.js';
import { splitSegments } from '../state/redistribute.js';
import { TASKS_STORE, TASKS_RETAINED } from './committer.js';
import { BLOB_PART_KEY, KEYED_SUFFIX } from './executor-core.js';
import { STATE_IDS_CONFIG_ID } from './savepoint-config.js';
import type { SavepointData, SavepointProcessor } from './savepoint-format.js';
import { decodeParts, decodeState } from './state-codec.js';

const EXEC_PART = /^exec-\d+$/;
/** A live checkpoint may be pruned while it is read (the app keeps a few): take the newer one. */
const CAPTURE_ATTEMPTS = 5;

function taskName(name: string): { processor: string; index: number } {
  const dot = name.lastIndexOf('.');
  const index = Number(name.slice(dot + 1));
  if (dot <= 0 || !Number.isInteger(index) || index < 0) throw new EngineError('INTERNAL', `checkpoint lists a task named ${JSON.stringify(name)} (expected <processor>.<index>)`);
  return { processor: name.slice(0, dot), index };
}

/**
 * Reads committed checkpoint `t` of an app (its newest when t is undefined) into a
 * self-contained savepoint: every part is read and re-encoded, keyed state split by key
 * group, source positions taken from the offsets stores at t. When `t` is undefined and
 * the checkpoint is pruned mid-read, the next newest is taken (bounded attempts).
 */
export async function captureCheckpoint(app: AppStorage, t?: number): Promise<SavepointData> {
  const store = app.checkpoints(TASKS_STORE, { numRetained: TASKS_RETAINED });
  for (let attempt = 1; ; attempt++) {
    const cp = t === undefined ? await store.last() : await store.get(t);
    if (!cp) throw new EngineError('SAVEPOINT_NOT_FOUND', t === undefined ? `app ${app.appId} has no committed checkpoint yet` : `app ${app.appId} has no retained checkpoint at ${t}`, { details: { appId: app.appId, ...(t === undefined ? {} : { t }) } });
    try {
      return await captureOne(app, cp);
    } catch (err) {
      if (t !== undefined || attempt >= CAPTURE_ATTEMPTS || !isStorageError(err, 'STORAGE_NOT_FOUND')) throw err;
    }
  }
}

async function captureOne(app: AppStorage, cp: Checkpoint): Promise<SavepointData> {
  const store = app.checkpoints(TASKS_STORE, { numRetained: TASKS_RETAINED });
  const operator = new Map<string, Uint8Array>();
  const manifests = new Map<string, KeyedStateManifest>();
  for (const part of cp.parts) {
    if (!EXEC_PART.test(part.name)) continue;
    for (const [k, v] of decodeParts(await store.readPart(cp.t, part.name))) {
      if (k === BLOB_PART_KEY) continue;
      if (k.endsWith(KEYED_SUFFIX)) manifests.set(k.slice(0, -KEYED_SUFFIX.length), decodeState(v) as KeyedStateManifest);
      else operator.set(k, Uint8Array.from(v));
    }
  }
  const sources = new Set(await app.listTimeStores('offsets'));
  const processors = new Map<string, SavepointProcessor>();
  const procOf = (name: string): { p: SavepointProcessor; index: number } => {
    const { processor, index } = taskName(name);
    let p = processors.get(processor);
    if (!p) processors.set(processor, (p = { parallelism: 0, source: false, operator: [] }));
    p.parallelism = Math.max(p.parallelism, index + 1);
    return { p, index };
  };
  for (const [name, bytes] of operator) {
    const { p, index } = procOf(name);
    p.operator[index] = bytes;
    if (!sources.has(name)) continue;
    p.source = true;
    p.offsets ??= [];
    const e = await app.offsets(name).get(cp.t);
    // Committed checkpoint t implies offset(t) was durable first; the part holds the same position.
    p.offsets[index] = e ? (JSON.parse(Buffer.from(e.value).toString('utf8')) as unknown) : ((decodeState(bytes) as { position?: unknown } | null)?.position ?? null);
  }
  let maxParallelism: number | undefined;
  for (const [name, m] of manifests) {
    const { p } = procOf(name);
    if (maxParallelism !== undefined && m.maxParallelism !== maxParallelism) throw new EngineError('INTERNAL', `checkpoint ${cp.t}: tasks disagree on maxParallelism (${maxParallelism}, ${m.maxParallelism})`);
    maxParallelism = m.maxParallelism;
    const segments: Uint8Array[][] = [];
    for (const seg of m.segments) segments.push(await Promise.all(seg.parts.map((n) => store.readPart(cp.t, n))));
    const split = splitSegments(segments, m.maxParallelism);
    const cur = p.keyed ?? { tables: [], groups: new Map<number, Uint8Array>(), entries: 0 };
    // Tasks of one processor may have created their tables in another order: the union.
    for (const n of split.tables) if (!cur.tables.includes(n)) cur.tables.push(n);
    for (const [kg, b] of split.groups) cur.groups.set(kg, b);
    cur.entries += split.entries;
    p.keyed = cur;
  }
  for (const p of processors.values()) p.operator.length = p.parallelism;
  // uids as the app's AppMaster recorded them (an app from before uids: names only).
  const ids = (await app.config.get(STATE_IDS_CONFIG_ID))?.value as Record<string, unknown> | undefined;
  for (const [name, p] of processors) {
    const id = ids?.[name];
    if (typeof id === 'string' && id !== name) p.uid = id;
  }
  const meta = await app.meta();
  return { app: { appId: app.appId, appName: meta.appName }, t: cp.t, createdAt: Date.now(), ...(maxParallelism === undefined ? {} : { maxParallelism }), processors };
}
