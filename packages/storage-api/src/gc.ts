import type { RetentionPolicy } from './config-schema.js';
import type { AppStorage, Storage, SubStoreKind } from './types.js';
import { toStorageError } from './errors.js';

export interface GcAction {
  appId: string;
  subStore: SubStoreKind;
  /** Store name for offsets/checkpoints, jar name, or resolution for metrics. */
  target: string;
  /** What is (or would be) removed. */
  what: string;
  /** Removed entries; on a dry run, the number that would be removed when cheap to know. */
  count?: number;
}

export interface GcReport {
  dryRun: boolean;
  actions: GcAction[];
  errors: Array<{ appId: string; subStore: SubStoreKind; message: string; code: string }>;
}

/**
 * Applies the retention policy to every app. Never deletes: the jar of an app (running or
 * not), the newest committed checkpoint of any store, nor offsets at or after the
 * floor of the oldest checkpoint kept (recovery replays from there).
 */
export async function runGc(storage: Storage, policy: RetentionPolicy, options: { dryRun?: boolean; now?: number; appIds?: string[] } = {}): Promise<GcReport> {
  const dryRun = options.dryRun ?? false;
  const now = options.now ?? Date.now();
  const report: GcReport = { dryRun, actions: [], errors: [] };
  for (const meta of await storage.listApps()) {
    if (options.appIds && !options.appIds.includes(meta.appId)) continue;
    if (meta.damaged) {
      report.errors.push({ appId: meta.appId, subStore: 'checkpoints', message: `app is damaged: ${meta.damaged.message}`, code: meta.damaged.code });
      continue;
    }
    let app: AppStorage | undefined;
    try {
      app = await storage.getAppStorage(meta.appId);
    } catch (err) {
      const e = toStorageError(err, `gc of ${meta.appId}`);
      report.errors.push({ appId: meta.appId, subStore: 'checkpoints', message: e.message, code: e.code });
      continue;
    }
    if (!app) continue;
    try {
      const step = async (kind: SubStoreKind, fn: () => Promise<void>): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          const e = toStorageError(err, `gc ${kind} of ${meta.appId}`);
          report.errors.push({ appId: meta.appId, subStore: kind, message: e.message, code: e.code });
        }
      };
      let protectFrom = Number.POSITIVE_INFINITY;
      await step('checkpoints', async () => {
        protectFrom = await gcCheckpoints(app, policy, now, dryRun, report);
      });
      await step('offsets', () => gcOffsets(app, policy, now, dryRun, protectFrom, report));
      await step('logs', () => gcLogs(app, policy, now, dryRun, report));
      await step('metrics', () => gcMetrics(app, policy, now, dryRun, report));
      await step('jars', () => gcJars(app, meta.jar, policy, now, dryRun, report));
    } finally {
      await app.close();
    }
  }
  return report;
}

async function gcCheckpoints(app: AppStorage, policy: RetentionPolicy, now: number, dryRun: boolean, report: GcReport): Promise<number> {
  const rule = policy.checkpoints ?? {};
  let oldestKept = Number.POSITIVE_INFINITY;
  for (const name of await app.listTimeStores('checkpoints')) {
    const store = app.checkpoints(name);
    const all = await store.range(0, Number.POSITIVE_INFINITY);
    if (all.length === 0) continue;
    let keepFrom = all.length - 1; // the newest committed checkpoint always stays
    for (let i = all.length - 2; i >= 0; i--) {
      const tooOld = rule.maxAgeMs !== undefined && all[i]!.committedAt < now - rule.maxAgeMs;
      const tooMany = rule.numRetained !== undefined && all.length - i > rule.numRetained;
      if (tooOld || tooMany) break;
      keepFrom = i;
    }
    oldestKept = Math.min(oldestKept, all[keepFrom]!.t);
    if (keepFrom === 0) continue;
    const cut = all[keepFrom]!.t;
    report.actions.push({ appId: app.appId, subStore: 'checkpoints', target: name, what: `checkpoints before t=${cut}`, count: keepFrom });
    if (!dryRun) await (await store.writer(await store.currentEpoch())).truncateBefore(cut);
  }
  return oldestKept;
}

async function gcOffsets(app: AppStorage, policy: RetentionPolicy, now: number, dryRun: boolean, protectFrom: number, report: GcReport): Promise<void> {
  const rule = policy.offsets ?? {};
  const noRule = rule.maxAgeMs === undefined && rule.numRetained === undefined;
  // Without a rule, offsets before the oldest kept checkpoint still go: recovery never
  // reads them, and an app that runs for months must not grow without bound.
  if (noRule && !Number.isFinite(protectFrom)) return;
  for (const name of await app.listTimeStores('offsets')) {
    const store = app.offsets(name);
    const last = await store.last();
    if (!last) continue;
    let cut = noRule ? Number.POSITIVE_INFINITY : 0;
    if (rule.maxAgeMs !== undefined) cut = Math.max(cut, now - rule.maxAgeMs);
    if (rule.numRetained !== undefined) {
      const tail = await store.range(0, Number.POSITIVE_INFINITY);
      if (tail.length > rule.numRetained) cut = Math.max(cut, tail[tail.length - rule.numRetained]!.t);
    }
    // Recovery from the oldest kept checkpoint needs lookUp(t) to land on or before it.
    const guard = Number.isFinite(protectFrom) ? ((await store.floor(protectFrom)) ?? (await store.first()))!.t : last.t;
    cut = Math.min(cut, guard, last.t);
    const doomed = await store.range(0, cut);
    if (doomed.length === 0) continue;
    report.actions.push({ appId: app.appId, subStore: 'offsets', target: name, what: `offsets before t=${cut}`, count: doomed.length });
    if (!dryRun) await (await store.writer(await store.currentEpoch())).truncateBefore(cut);
  }
}

async function gcLogs(app: AppStorage, policy: RetentionPolicy, now: number, dryRun: boolean, report: GcReport): Promise<void> {
  const rule = policy.logs ?? {};
  let cut = rule.maxAgeMs !== undefined ? now - rule.maxAgeMs : 0;
  if (rule.maxBytes !== undefined) {
    const st = await app.logs.stats();
    if (st.bytes > rule.maxBytes && st.oldestTs !== undefined && st.newestTs !== undefined) {
      // Assume an even spread over time: cut the oldest share that brings it under the cap.
      const share = 1 - rule.maxBytes / st.bytes;
      cut = Math.max(cut, Math.ceil(st.oldestTs + (st.newestTs - st.oldestTs + 1) * share));
    }
  }
  if (cut <= 0) return;
  const n = dryRun ? undefined : await app.logs.deleteBefore(cut);
  report.actions.push({ appId: app.appId, subStore: 'logs', target: 'logs', what: `log records before ts=${cut}`, count: n });
}

async function gcMetrics(app: AppStorage, policy: RetentionPolicy, now: number, dryRun: boolean, report: GcReport): Promise<void> {
  const rule = policy.metrics ?? {};
  const levels: Array<['raw' | '1m' | '1h', number | undefined]> = [
    ['raw', rule.maxAgeMs],
    ['1m', rule.rollups?.['1m']?.maxAgeMs],
    ['1h', rule.rollups?.['1h']?.maxAgeMs],
  ];
  for (const [resolution, maxAge] of levels) {
    if (maxAge === undefined) continue;
    const cut = now - maxAge;
    const n = dryRun ? undefined : await app.metrics.deleteBefore(cut, { resolution });
    report.actions.push({ appId: app.appId, subStore: 'metrics', target: resolution, what: `points before ts=${cut}`, count: n });
  }
}

async function gcJars(app: AppStorage, inUse: string | undefined, policy: RetentionPolicy, now: number, dryRun: boolean, report: GcReport): Promise<void> {
  const rule = policy.jars ?? {};
  if (rule.maxAgeMs === undefined && rule.numRetained === undefined) return;
  const jars = (await app.jars.list()).filter((j) => j.name !== inUse).sort((a, b) => b.createdAt - a.createdAt);
  for (let i = 0; i < jars.length; i++) {
    const j = jars[i]!;
    const tooOld = rule.maxAgeMs !== undefined && j.createdAt < now - rule.maxAgeMs;
    const tooMany = rule.numRetained !== undefined && i >= rule.numRetained;
    if (!tooOld && !tooMany) continue;
    report.actions.push({ appId: app.appId, subStore: 'jars', target: j.name, what: `jar ${j.name} (${j.size} B)`, count: 1 });
    if (!dryRun) await app.jars.delete(j.name);
  }
}
