/**
 * fsck: verifies a store through the contract (every jar's digest, every committed
 * checkpoint's parts, offsets strictly increasing and their index agreeing with the data)
 * and asks each backend's optional hook for what only it can see (orphans, index damage).
 * `repair` removes orphans only: nothing a committed manifest or a jar name references.
 */
import { unwrapStorage } from './guard.js';
import { RoutingStorage } from './routing.js';
import { toStorageError } from './errors.js';
import { LIMITS } from './limits.js';
import type { AppStorage, BackendStorage, Checkpoint, FsckHookFinding, Storage, SubStoreKind } from './types.js';

export interface FsckFinding {
  appId: string;
  subStore: SubStoreKind | 'app';
  target: string;
  /** damage: data the contract promises is wrong or gone; orphan: garbage nothing references. */
  kind: 'damage' | 'orphan';
  message: string;
  code?: string;
  repaired?: boolean;
}

/**
 * One retained checkpoint as fsck saw it: the parts it needs, and how it shares them with
 * the other retained checkpoints of its store (incremental checkpoints list parts staged
 * and committed earlier, by ref).
 */
export interface FsckCheckpoint {
  appId: string;
  store: string;
  t: number;
  /** Every part its manifest lists (what a restore at t reads). */
  parts: Array<{ name: string; ref: string; size: number }>;
  /** No other retained checkpoint lists any of its parts: it can be deleted or copied alone. */
  selfContained: boolean;
  /** Bytes of the parts it lists first (no older retained checkpoint lists them). */
  newBytes: number;
  /** Bytes of the parts an older retained checkpoint lists too. */
  sharedBytes: number;
  /** The other retained checkpoints (by t, ascending) that list at least one of its parts. */
  sharesWith: number[];
}

export interface FsckReport {
  apps: number;
  /** Every retained checkpoint of every store checked, by app, store and t. */
  checkpoints: FsckCheckpoint[];
  repair: boolean;
  findings: FsckFinding[];
  damage: number;
  orphans: number;
  repaired: number;
  /** Whether the backend(s) looked for orphans (a hook exists). */
  orphanScan: boolean;
}

export interface FsckOptions {
  appIds?: string[];
  repair?: boolean;
}

export async function runFsck(storage: Storage, options: FsckOptions = {}): Promise<FsckReport> {
  const repair = options.repair ?? false;
  const findings: FsckFinding[] = [];
  const checkpoints: FsckCheckpoint[] = [];
  const backends = backendsOf(storage);
  let apps = 0;
  let metas: Array<{ appId: string; damaged?: { code: string; message: string } }>;
  if (options.appIds) metas = options.appIds.map((appId) => ({ appId }));
  else metas = await storage.listApps();
  for (const m of metas) {
    const appId = m.appId;
    if ('damaged' in m && m.damaged) {
      findings.push({ appId, subStore: 'app', target: appId, kind: 'damage', message: `app metadata unreadable: ${m.damaged.message}`, code: m.damaged.code });
      continue;
    }
    const app = await storage.getAppStorage(appId).catch((err: unknown) => {
      findings.push(damage(appId, 'app', appId, err, 'cannot open the app'));
      return undefined;
    });
    if (!app) {
      if (options.appIds && !findings.some((f) => f.appId === appId)) findings.push({ appId, subStore: 'app', target: appId, kind: 'damage', message: `app ${appId} not found`, code: 'STORAGE_NOT_FOUND' });
      continue;
    }
    apps++;
    try {
      await step(findings, appId, 'jars', () => checkJars(app, findings));
      await step(findings, appId, 'checkpoints', () => checkCheckpoints(app, findings, checkpoints));
      await step(findings, appId, 'offsets', () => checkOffsets(app, findings));
      for (const b of backends) {
        if (!b.fsckApp) continue;
        await step(findings, appId, 'app', async () => {
          for (const f of await b.fsckApp!(appId, { repair })) findings.push(fromHook(appId, f));
        });
      }
    } finally {
      await app.close();
    }
  }
  return {
    apps,
    checkpoints,
    repair,
    findings,
    damage: findings.filter((f) => f.kind === 'damage').length,
    orphans: findings.filter((f) => f.kind === 'orphan').length,
    repaired: findings.filter((f) => f.repaired).length,
    orphanScan: backends.some((b) => typeof b.fsckApp === 'function'),
  };
}

/** The distinct backends behind a (possibly routed) storage. */
function backendsOf(storage: Storage): BackendStorage[] {
  const routed = storage instanceof RoutingStorage ? storage.backends : undefined;
  const all = Array.isArray(routed) && routed.length > 0 ? routed : [storage];
  return [...new Set(all.map((s) => unwrapStorage(s)))];
}

function fromHook(appId: string, f: FsckHookFinding): FsckFinding {
  return { appId, subStore: f.subStore, target: f.target, kind: f.kind, message: f.message, repaired: f.repaired };
}

function damage(appId: string, subStore: FsckFinding['subStore'], target: string, err: unknown, what: string): FsckFinding {
  const e = toStorageError(err, what);
  return { appId, subStore, target, kind: 'damage', message: `${what}: ${e.message}`, code: e.code };
}

/** A failing check of one sub-store is a finding, and the others still run. */
async function step(findings: FsckFinding[], appId: string, subStore: FsckFinding['subStore'], fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    findings.push(damage(appId, subStore, subStore, err, `checking ${subStore}`));
  }
}

async function checkJars(app: AppStorage, findings: FsckFinding[]): Promise<void> {
  for (const j of await app.jars.list()) {
    try {
      let n = 0;
      // get() verifies the digest as it streams: a mismatch throws STORAGE_CORRUPT at the end.
      for await (const chunk of await app.jars.get(j.name)) n += chunk.byteLength;
      if (n !== j.size) findings.push({ appId: app.appId, subStore: 'jars', target: j.name, kind: 'damage', message: `jar ${j.name}: ${n} bytes stored, ${j.size} recorded`, code: 'STORAGE_CORRUPT' });
    } catch (err) {
      findings.push(damage(app.appId, 'jars', j.name, err, `jar ${j.name}`));
    }
  }
}

/** Every entry of a time-keyed store, page by page (range returns at most LIMITS.maxLimit). */
async function* entries<E extends { t: number }>(store: { range(from: number, to: number, o?: { limit?: number }): Promise<E[]> }): AsyncIterable<E> {
  let from = 0;
  for (let page = 0; page < 1_000_000; page++) {
    const batch = await store.range(from, Number.POSITIVE_INFINITY, { limit: LIMITS.maxLimit });
    for (const e of batch) yield e;
    if (batch.length < LIMITS.maxLimit) return;
    from = batch[batch.length - 1]!.t + 1;
  }
}

async function checkCheckpoints(app: AppStorage, findings: FsckFinding[], out: FsckCheckpoint[]): Promise<void> {
  for (const name of await app.listTimeStores('checkpoints')) {
    const store = app.checkpoints(name);
    let prev: number | undefined;
    const cps: Checkpoint[] = [];
    // A part shared by several checkpoints is read once (same ref, same descriptor).
    const verified = new Set<string>();
    for await (const cp of entries(store)) {
      if (prev !== undefined && cp.t <= prev) {
        findings.push({ appId: app.appId, subStore: 'checkpoints', target: name, kind: 'damage', message: `checkpoints ${name}: manifest t=${cp.t} after t=${prev}`, code: 'STORAGE_CORRUPT' });
      }
      prev = cp.t;
      cps.push(cp);
      for (const p of cp.parts) {
        const key = `${p.ref}\u0000${p.size}\u0000${p.sha256}`;
        if (verified.has(key)) continue;
        try {
          await store.readPart(cp.t, p.name); // verifies size and SHA-256
          verified.add(key);
        } catch (err) {
          findings.push(damage(app.appId, 'checkpoints', `${name}@${cp.t}/${p.name}`, err, `checkpoint ${name}@${cp.t} part ${p.name}`));
        }
      }
    }
    out.push(...describeCheckpoints(app.appId, name, cps));
  }
}

/** Which parts each checkpoint needs and whom it shares them with (see FsckCheckpoint). */
export function describeCheckpoints(appId: string, store: string, cps: ReadonlyArray<Pick<Checkpoint, 't' | 'parts'>>): FsckCheckpoint[] {
  const sorted = [...cps].sort((a, b) => a.t - b.t);
  const listers = new Map<string, number[]>(); // ref → the t of every checkpoint listing it, ascending
  for (const cp of sorted) for (const ref of new Set(cp.parts.map((p) => p.ref))) listers.set(ref, [...(listers.get(ref) ?? []), cp.t]);
  return sorted.map((cp) => {
    const shares = new Set<number>();
    let newBytes = 0;
    let sharedBytes = 0;
    for (const p of cp.parts) {
      const ts = listers.get(p.ref)!;
      for (const t of ts) if (t !== cp.t) shares.add(t);
      if (ts[0]! < cp.t) sharedBytes += p.size;
      else newBytes += p.size;
    }
    return {
      appId,
      store,
      t: cp.t,
      parts: cp.parts.map((p) => ({ name: p.name, ref: p.ref, size: p.size })),
      selfContained: shares.size === 0,
      newBytes,
      sharedBytes,
      sharesWith: [...shares].sort((a, b) => a - b),
    };
  });
}

async function checkOffsets(app: AppStorage, findings: FsckFinding[]): Promise<void> {
  for (const name of await app.listTimeStores('offsets')) {
    const store = app.offsets(name);
    const bad = (message: string): void => void findings.push({ appId: app.appId, subStore: 'offsets', target: name, kind: 'damage', message: `offsets ${name}: ${message}`, code: 'STORAGE_CORRUPT' });
    let prev: number | undefined;
    let first: number | undefined;
    let last: { t: number; value: Uint8Array } | undefined;
    let count = 0;
    for await (const e of entries(store)) {
      if (prev !== undefined && e.t <= prev) bad(`t=${e.t} after t=${prev}: not strictly increasing`);
      prev = e.t;
      first ??= e.t;
      last = e;
      count++;
    }
    // The lookups (index) must agree with the scan (data).
    const [f, l] = await Promise.all([store.first(), store.last()]);
    if (f?.t !== first) bad(`first() is t=${f?.t}, the scan starts at t=${first}`);
    if (l?.t !== last?.t) bad(`last() is t=${l?.t}, the scan ends at t=${last?.t}`);
    if (last) {
      const fl = await store.floor(last.t);
      if (fl?.t !== last.t || Buffer.compare(Buffer.from(fl.value), Buffer.from(last.value)) !== 0) bad(`floor(${last.t}) does not return the last entry`);
      const got = await store.get(last.t);
      if (!got) bad(`get(${last.t}) misses the last entry (${count} scanned)`);
    }
  }
}
