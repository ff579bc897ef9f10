import { appDeletedError } from '../policy.js';
import type { AppMeta, Checkpoint, ConfigEntry, JarInfo, LogRecord, MetricKind, MetricResolution, TimeEntry } from '../types.js';
import type { PartialAgg } from '../util/metrics.js';

/** Everything one app holds, as plain data. */
export interface MemoryApp {
  meta: AppMeta;
  /** Set when the app is deleted: handles kept across delete (and re-create) fail instead of writing into nothing. */
  deleted: boolean;
  jars: Map<string, JarInfo>;
  blobs: Map<string, Buffer>;
  logs: Array<{ seq: number; record: LogRecord; bytes: number }>;
  logSeq: number;
  series: Map<string, { name: string; labels: Record<string, string>; kind: MetricKind; points: Array<{ ts: number; value: number }> }>;
  rollups: Record<Exclude<MetricResolution, 'raw'>, Map<string, Map<number, PartialAgg>>>;
  config: Map<string, ConfigEntry>;
  offsets: Map<string, { epoch: number; entries: TimeEntry[] }>;
  checkpoints: Map<string, { epoch: number; committed: Checkpoint[]; staged: Map<string, Buffer> }>;
}

/** A process-wide named volume lets several Storage instances share data like processes share a disk. */
export class MemoryVolume {
  readonly apps = new Map<string, MemoryApp>();
}

const volumes = new Map<string, MemoryVolume>();

export function namedVolume(name: string): MemoryVolume {
  let v = volumes.get(name);
  if (!v) volumes.set(name, (v = new MemoryVolume()));
  return v;
}

export function dropVolume(name: string): void {
  volumes.delete(name);
}

export function newApp(meta: AppMeta): MemoryApp {
  return {
    meta,
    deleted: false,
    jars: new Map(),
    blobs: new Map(),
    logs: [],
    logSeq: 0,
    series: new Map(),
    rollups: { '1m': new Map(), '1h': new Map() },
    config: new Map(),
    offsets: new Map(),
    checkpoints: new Map(),
  };
}

/** Writes through a handle of a deleted app fail: they must not be acknowledged and then lost. */
export function assertLive(app: MemoryApp): void {
  if (app.deleted) throw appDeletedError(app.meta.appId);
}
