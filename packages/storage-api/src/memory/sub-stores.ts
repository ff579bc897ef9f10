import type {
  ByteSource, ConfigBackend, ConfigEntry, FollowOptions, JarInfo, LogPage, LogQuery, LogRecord, LogStats, LogStore,
  MetricPoint, MetricQuery, MetricResolution, MetricSeries, MetricsStore, SeriesInfo, TransferOptions,
} from '../types.js';
import { HashingCounter, iterateBytes, verifyingStream } from '../util/bytes.js';
import { checkJarDigest, checkJarReplaceable, jarNotFoundError } from '../policy.js';
import { afterCursor, decodeCursor, effectiveLimit, logPage, matchesLogQuery } from '../util/logs.js';
import {
  Aggregator, RESOLUTION_MS, ROLLUP_RESOLUTIONS, addValue, chooseResolution, emptyPartial, labelsMatch, seriesKey, type PartialAgg,
} from '../util/metrics.js';
import { sleep } from '../util/retry.js';
import { assertLive, type MemoryApp } from './volume.js';

export class MemoryJarStore {
  constructor(private readonly app: MemoryApp, private readonly now: () => number) {}

  async put(name: string, source: ByteSource, options: TransferOptions = {}): Promise<JarInfo> {
    assertLive(this.app);
    const counter = new HashingCounter(options.onProgress, options.size);
    const chunks: Buffer[] = [];
    for await (const c of counter.wrap(iterateBytes(source, options.signal))) chunks.push(Buffer.from(c));
    const { sha256, size } = counter.result();
    checkJarDigest(name, sha256, options.expectedSha256);
    checkJarReplaceable(this.app.meta, name);
    if (!this.app.blobs.has(sha256)) this.app.blobs.set(sha256, Buffer.concat(chunks)); // dedupe
    const info: JarInfo = { name, sha256, size, createdAt: this.now() };
    this.app.jars.set(name, info);
    return { ...info };
  }

  async get(name: string, options: TransferOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const info = this.app.jars.get(name);
    const blob = info && this.app.blobs.get(info.sha256);
    if (!info || !blob) throw jarNotFoundError(name);
    const data = Buffer.from(blob);
    async function* chunks(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < data.length; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
    }
    return verifyingStream(chunks(), { sha256: info.sha256, size: info.size, what: `jar ${name}` }, options);
  }

  async stat(name: string): Promise<JarInfo | undefined> {
    const i = this.app.jars.get(name);
    return i && { ...i };
  }

  async list(): Promise<JarInfo[]> {
    return [...this.app.jars.values()].map((i) => ({ ...i })).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async delete(name: string): Promise<void> {
    assertLive(this.app);
    const info = this.app.jars.get(name);
    if (!info) throw jarNotFoundError(name);
    checkJarReplaceable(this.app.meta, name);
    this.app.jars.delete(name);
    if (![...this.app.jars.values()].some((j) => j.sha256 === info.sha256)) this.app.blobs.delete(info.sha256);
  }

}

export class MemoryLogStore implements Pick<LogStore, 'append' | 'query' | 'follow' | 'stats' | 'deleteBefore'> {
  constructor(private readonly app: MemoryApp) {}

  async append(records: LogRecord[]): Promise<void> {
    assertLive(this.app);
    for (const r of records) {
      const copy: LogRecord = structuredClone(r);
      this.app.logs.push({ seq: ++this.app.logSeq, record: copy, bytes: JSON.stringify(copy).length });
    }
  }

  async query(q: LogQuery): Promise<LogPage> {
    const order = q.order ?? 'asc';
    const cursor = q.cursor ? decodeCursor(q.cursor) : undefined;
    const limit = effectiveLimit(q.limit);
    const rows = this.app.logs
      .map((e) => ({ seq: seqStr(e.seq), record: e.record }))
      .filter((e) => matchesLogQuery(e.record, q) && (!cursor || afterCursor(e.record.ts, e.seq, { ...cursor, order })));
    return logPage(rows, order, limit);
  }

  async *follow(q: LogQuery, options: FollowOptions = {}): AsyncIterable<LogRecord> {
    // Arrival order = seq; start after what exists now unless `from` asks for history.
    let seen = q.from === undefined ? this.app.logSeq : 0;
    const poll = options.pollIntervalMs ?? 500;
    while (!options.signal?.aborted) {
      const fresh = this.app.logs.filter((e) => e.seq > seen);
      for (const e of fresh) {
        seen = e.seq;
        if (matchesLogQuery(e.record, q)) yield structuredClone(e.record);
      }
      try {
        await sleep(poll, options.signal);
      } catch {
        return;
      }
    }
  }

  async stats(): Promise<LogStats> {
    const logs = this.app.logs;
    let bytes = 0;
    let oldestTs: number | undefined;
    let newestTs: number | undefined;
    for (const e of logs) {
      bytes += e.bytes;
      oldestTs = oldestTs === undefined ? e.record.ts : Math.min(oldestTs, e.record.ts);
      newestTs = newestTs === undefined ? e.record.ts : Math.max(newestTs, e.record.ts);
    }
    return { count: logs.length, bytes, oldestTs, newestTs };
  }

  async deleteBefore(t: number): Promise<number> {
    assertLive(this.app);
    const before = this.app.logs.length;
    this.app.logs = this.app.logs.filter((e) => e.record.ts >= t);
    return before - this.app.logs.length;
  }
}

// Fixed width so string order is numeric order.
function seqStr(seq: number): string {
  return seq.toString().padStart(16, '0');
}

export class MemoryMetricsStore implements MetricsStore {
  constructor(private readonly app: MemoryApp) {}

  async write(points: MetricPoint[]): Promise<void> {
    assertLive(this.app);
    for (const p of points) {
      const key = seriesKey(p.name, p.labels);
      let s = this.app.series.get(key);
      if (!s) this.app.series.set(key, (s = { name: p.name, labels: { ...p.labels }, kind: p.kind, points: [] }));
      s.points.push({ ts: p.ts, value: p.value });
      for (const r of ROLLUP_RESOLUTIONS) {
        const ms = RESOLUTION_MS[r];
        let m = this.app.rollups[r].get(key);
        if (!m) this.app.rollups[r].set(key, (m = new Map<number, PartialAgg>()));
        const b = Math.floor(p.ts / ms) * ms;
        let part = m.get(b);
        if (!part) m.set(b, (part = emptyPartial()));
        addValue(part, p.ts, p.value, false);
      }
    }
  }

  async query(q: MetricQuery): Promise<MetricSeries[]> {
    const res = chooseResolution(q);
    const agg = new Aggregator(q);
    for (const [key, s] of this.app.series) {
      if (s.name !== q.name || !labelsMatch(s.labels, q.labels)) continue;
      if (res === 'raw') {
        for (const p of s.points) if (p.ts >= q.from && p.ts < q.to) agg.addRaw(s.labels, p.ts, p.value);
      } else {
        for (const [ts, part] of this.app.rollups[res].get(key) ?? []) {
          if (ts >= q.from && ts < q.to) agg.addRollup(s.labels, ts, part);
        }
      }
    }
    return agg.result();
  }

  async listSeries(filter: { name?: string; labels?: Record<string, string> } = {}): Promise<SeriesInfo[]> {
    return [...this.app.series.values()]
      .filter((s) => (!filter.name || s.name === filter.name) && labelsMatch(s.labels, filter.labels))
      .map((s) => ({ name: s.name, labels: { ...s.labels }, kind: s.kind }));
  }

  async deleteBefore(t: number, options: { resolution?: MetricResolution } = {}): Promise<number> {
    assertLive(this.app);
    const res = options.resolution ?? 'raw';
    let n = 0;
    if (res === 'raw') {
      for (const s of this.app.series.values()) {
        const before = s.points.length;
        s.points = s.points.filter((p) => p.ts >= t);
        n += before - s.points.length;
      }
    } else {
      for (const m of this.app.rollups[res].values()) {
        for (const ts of [...m.keys()]) if (ts < t && m.delete(ts)) n++;
      }
    }
    return n;
  }
}

/** Config entries in a map: I/O hooks only (storage-api applies versions and CAS). */
export class MemoryConfigStore implements ConfigBackend {
  constructor(private readonly app: MemoryApp, private readonly now: () => number) {}

  async get(processorId: string): Promise<ConfigEntry | undefined> {
    const e = this.app.config.get(processorId);
    return e && structuredClone(e);
  }

  async list(): Promise<ConfigEntry[]> {
    return [...this.app.config.values()].map((e) => structuredClone(e));
  }

  // Single-threaded: read, decide and write without yielding, so each hook is atomic.
  async put(processorId: string, next: (current: ConfigEntry | undefined, now: number) => ConfigEntry): Promise<void> {
    assertLive(this.app);
    this.app.config.set(processorId, structuredClone(next(this.app.config.get(processorId), this.now())));
  }

  async remove(processorId: string, check: (current: ConfigEntry | undefined) => void): Promise<void> {
    assertLive(this.app);
    check(this.app.config.get(processorId));
    this.app.config.delete(processorId);
  }
}

