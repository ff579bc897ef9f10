import type { IncomingMessage, Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { validateName, type AppStorage, type Storage } from '@sluice/storage-api';
import type { z } from 'zod';
import { observabilityRoutes } from '../observability/index.js';
import { EngineError } from '../errors.js';
import type { TaskLogger } from '../dsl/task.js';
import { JsonRouter, readJson } from './http.js';
import { policyFor, recordRestart, type RestartPolicy } from './restart-policy.js';
import type { AppSeed, SeedStore } from './seed-store.js';
import {
  appConfigSchema, appMasterStatusSchema, executorsRequestSchema, finishRequestSchema, restartRequestSchema, workerHeartbeatSchema, workerRegisterSchema,
  type AmHeartbeatReply, type AppMasterStatus, type ExecutorReport, type ExecutorsReply, type ExitedExecutor, type RestartReply, type RunningExecutor, type WorkerCommand,
} from './protocol.js';

export interface MasterOptions {
  host: string;
  port: number;
  storage: Storage;
  seeds: SeedStore;
  logger: TaskLogger;
  /** A worker silent this long is considered dead. */
  workerTimeoutMs?: number;
  /** A running app whose AppMaster is silent this long gets a new one. */
  appMasterTimeoutMs?: number;
  /** Largest artifact accepted at submit (bytes). */
  maxArtifactBytes?: number;
  /** Upper bound on an app's `executors` config. */
  maxExecutors?: number;
  /** Cluster default restart budget and back-off; apps may tune it in their config. */
  restartPolicy?: Partial<RestartPolicy>;
}

interface LaunchedExecutor {
  appId: string;
  role: 'appmaster' | 'executor';
  executor: number;
  epoch: number;
  at: number;
}

interface WorkerState {
  id: string;
  host: string;
  slots: number;
  lastSeen: number;
  version?: string;
  executors: RunningExecutor[];
  commands: WorkerCommand[];
  /** Launches handed to the worker but not yet in its reports: they hold a slot. */
  launched: LaunchedExecutor[];
}

/** The app's current AppMaster, from its launch until it is replaced or the app ends. */
interface AmState {
  /** The epoch it was launched with: its identity across its own epoch bumps. */
  amEpoch: number;
  launchedAt: number;
  lastSeen: number;
  /** True once it heartbeated: the launch is no longer in flight. */
  started: boolean;
  worker?: string;
  status?: AppMasterStatus;
}

/**
 * One app as the master holds it. Every change to the seed happens inside `run` (one
 * queue per app), reads the revision it last wrote and writes with compare-and-set, so
 * two launches can never read the same epoch.
 */
interface AppEntry {
  seed: AppSeed;
  rev: string;
  am?: AmState;
  /** Why the app cannot make progress now (no free slot): shown as status `pending`. */
  waiting?: string;
  /** Executor exits at the current epoch, for the AppMaster's next heartbeat. */
  exits: ExitedExecutor[];
  config?: Record<string, unknown>;
  queue: Promise<unknown>;
  busy: number;
}

export const APP_CONFIG_ID = '_app';
export const JAR_NAME = 'app.mjs';
/** How long a handed-out launch holds its slot before the worker's reports must show it. */
const LAUNCH_HOLD_MS = 15_000;
/** Grace for an AppMaster to flush its logs after finish before the worker kills it. */
const FINISH_GRACE_MS = 15_000;

const DEFAULT_POLICY: RestartPolicy = { maxRestarts: 10, restartWindowMs: 600_000, restartBackoffMs: 500, restartBackoffMaxMs: 30_000 };

function parseBody<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new EngineError('BAD_REQUEST', `invalid ${what}: ${i ? `${i.path.join('.') || '(body)'}: ${i.message}` : 'malformed'}`);
  }
  return r.data;
}

/**
 * The master: control API, app registry (seeds only) and worker registry. It never
 * runs app code: each app's AppMaster runs in an executor on a worker, so a master
 * restart does not stop apps; on restart the seeds are reloaded and workers
 * re-register with what they run.
 */
export class Master {
  readonly #workers = new Map<string, WorkerState>();
  readonly #apps = new Map<string, AppEntry>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #server: Server | undefined;
  #timer: NodeJS.Timeout | undefined;
  #nextWorker = 0;
  #stopped = false;
  readonly startedAt = Date.now();
  readonly policy: RestartPolicy;

  constructor(readonly opts: MasterOptions) {
    this.policy = { ...DEFAULT_POLICY, ...opts.restartPolicy };
  }

  get address(): string {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? `${this.opts.host}:${a.port}` : `${this.opts.host}:${this.opts.port}`;
  }

  async start(): Promise<void> {
    for (const { seed, rev } of await this.opts.seeds.load()) {
      // Running AppMasters keep heartbeating across a master restart: the first
      // heartbeat at the seed's epoch is adopted; a silent one is replaced in time.
      const entry: AppEntry = { seed, rev, exits: [], queue: Promise.resolve(), busy: 0 };
      if (seed.status === 'running') entry.am = { amEpoch: seed.epoch, launchedAt: Date.now(), lastSeen: Date.now(), started: true };
      this.#apps.set(seed.appId, entry);
    }
    // Logs and metrics query API (GET /apps/:id/logs|metrics) and Prometheus GET /metrics.
    const obs = observabilityRoutes({
      getAppStorage: (id) => this.#appStorage(id),
      prometheus: () => ({ cluster: this.#snapshot() }),
      processMetrics: true,
    });
    this.#server = await this.#router().listen(this.opts.host, this.opts.port, obs);
    this.#timer = setInterval(() => this.#monitor(), 500);
    this.opts.logger.info({ address: this.address, apps: this.#apps.size }, 'master started');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const t of this.#timers) clearTimeout(t);
    for (const p of this.#stores.values()) void p.then((a) => a?.close()).catch(() => {});
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
    this.#server?.closeAllConnections?.();
    await Promise.allSettled([...this.#apps.values()].map((e) => e.queue));
    await this.opts.seeds.close();
  }

  /** App stores opened for log/metric queries, kept open (one handle per app). */
  readonly #stores = new Map<string, Promise<AppStorage | undefined>>();
  #appStorage(appId: string): Promise<AppStorage | undefined> {
    let p = this.#stores.get(appId);
    if (!p) {
      p = this.opts.storage.getAppStorage(appId);
      this.#stores.set(appId, p);
      p.then((a) => a === undefined && this.#stores.delete(appId), () => this.#stores.delete(appId));
    }
    return p;
  }

  #snapshot() {
    const now = Date.now();
    return {
      uptimeSeconds: (now - this.startedAt) / 1000,
      workers: [...this.#workers.values()].map((w) => ({ id: w.id, host: w.host, alive: true, slots: w.slots, usedSlots: this.#load(w) })),
      apps: [...this.#apps.values()].map(({ seed: s, am: a }) => {
        const am = a?.status;
        return {
          appId: s.appId, appName: s.name, status: s.status, epoch: s.epoch,
          ...(am ? { executors: am.executors, restarts: s.restarts, ...(am.committed === undefined ? {} : { lastCheckpointTs: am.committed }) } : { restarts: s.restarts }),
        };
      }),
    };
  }

  #entry(appId: string): AppEntry {
    const e = this.#apps.get(appId);
    if (!e) throw new EngineError('APP_NOT_FOUND', `app ${appId} not found`);
    return e;
  }

  /** Runs fn after every earlier change of this app: the one place seeds change. */
  #run<T>(entry: AppEntry, fn: () => Promise<T>): Promise<T> {
    entry.busy++;
    const p = entry.queue.then(fn);
    entry.queue = p.then(
      () => void entry.busy--,
      () => void entry.busy--,
    );
    return p;
  }

  /** Compare-and-set of the seed against the revision this master last wrote. */
  async #write(entry: AppEntry, next: AppSeed): Promise<void> {
    const seed = { ...next, updatedAt: Date.now() };
    entry.rev = await this.opts.seeds.update(seed, entry.rev);
    entry.seed = seed;
  }

  #load(w: WorkerState): number {
    return w.executors.length + w.launched.length + w.commands.filter((c) => c.type === 'launch').length;
  }

  /** Workers with a free slot, least loaded first (round-robin among equals). */
  #freeWorkers(): WorkerState[] {
    const ws = [...this.#workers.values()].filter((w) => this.#load(w) < w.slots).sort((a, b) => a.id.localeCompare(b.id));
    const n = ws.length ? this.#nextWorker++ % ws.length : 0;
    return [...ws.slice(n), ...ws.slice(0, n)].sort((a, b) => this.#load(a) - this.#load(b));
  }

  #freeSlots(): number {
    let n = 0;
    for (const w of this.#workers.values()) n += Math.max(0, w.slots - this.#load(w));
    return n;
  }

  #push(w: WorkerState, c: WorkerCommand): void {
    w.commands.push(c);
  }

  #killEverywhere(appId: string, filter: { belowEpoch?: number; role?: 'appmaster' | 'executor' } = {}): void {
    for (const w of this.#workers.values()) this.#push(w, { type: 'kill', appId, ...filter });
  }

  /** Launches a new AppMaster under a new epoch, unless one is alive or in flight. */
  async #ensureAppMaster(entry: AppEntry): Promise<void> {
    const { seed } = entry;
    if (seed.status !== 'running' || entry.am || this.#stopped) return;
    const now = Date.now();
    if (seed.nextAttemptAt !== undefined && now < seed.nextAttemptAt) return;
    const w = this.#freeWorkers()[0];
    if (!w) {
      entry.waiting = this.#workers.size === 0 ? 'no worker is registered' : 'no free slot for the AppMaster';
      return;
    }
    const { nextAttemptAt: _done, ...rest } = seed;
    await this.#write(entry, { ...rest, epoch: seed.epoch + 1 });
    const epoch = entry.seed.epoch;
    entry.am = { amEpoch: epoch, launchedAt: now, lastSeen: now, started: false, worker: w.id };
    entry.waiting = undefined;
    entry.exits = [];
    // Whatever ran under an older epoch is fenced from now on: stop it.
    this.#killEverywhere(seed.appId, { belowEpoch: epoch });
    this.#push(w, { type: 'launch', appId: seed.appId, role: 'appmaster', executor: -1, epoch, jar: seed.jar, sha256: seed.sha256 });
    this.opts.logger.info({ appId: seed.appId, epoch, worker: w.id }, 'launching AppMaster');
  }

  async #configOf(entry: AppEntry): Promise<Record<string, unknown>> {
    if (!entry.config) {
      const app = await this.#appStorage(entry.seed.appId).catch(() => undefined);
      const v = app ? await app.config.get(APP_CONFIG_ID).catch(() => undefined) : undefined;
      entry.config = (v?.value ?? {}) as Record<string, unknown>;
    }
    return entry.config;
  }

  /**
   * Records a restart against the app's budget. Within budget the app gets a backed-off
   * next attempt; past it the app ends `failed` with the reason.
   */
  async #recordFailure(entry: AppEntry, reason: string, bumpEpoch: boolean): Promise<{ failed: boolean; notBefore: number }> {
    const policy = policyFor(this.policy, await this.#configOf(entry));
    const d = recordRestart(entry.seed, policy, reason, Date.now());
    if (d.kind === 'exhausted') {
      await this.#finish(entry, 'failed', d.error, d.seed);
      this.opts.logger.error({ appId: entry.seed.appId, reason, restarts: d.seed.restarts }, 'restart budget exhausted; app failed');
      return { failed: true, notBefore: 0 };
    }
    await this.#write(entry, bumpEpoch ? { ...d.seed, epoch: d.seed.epoch + 1 } : d.seed);
    entry.exits = [];
    this.opts.logger.warn({ appId: entry.seed.appId, reason, restarts: d.seed.restarts, delayMs: d.delayMs, epoch: entry.seed.epoch }, 'app restarting');
    return { failed: false, notBefore: d.seed.nextAttemptAt ?? Date.now() };
  }

  /** The current AppMaster is gone (exited, silent, never started): count it and relaunch later. */
  async #amLost(entry: AppEntry, amEpoch: number, reason: string): Promise<void> {
    if (entry.seed.status !== 'running' || entry.am?.amEpoch !== amEpoch) return;
    entry.am = undefined;
    const last = entry.seed.lastFailure;
    // The AppMaster usually reported why it was failing before it went away.
    const why = last && last.epoch >= amEpoch && Date.now() - last.at < 60_000 && !reason.includes(last.reason) ? `${reason}; last error: ${last.reason}` : reason;
    const r = await this.#recordFailure(entry, why, false);
    if (!r.failed) this.#killEverywhere(entry.seed.appId);
  }

  async #finish(entry: AppEntry, status: 'stopped' | 'failed' | 'killed', error: string | undefined, base: AppSeed = entry.seed): Promise<void> {
    const { nextAttemptAt: _n, ...rest } = base;
    await this.#write(entry, { ...rest, status, ...(error === undefined ? {} : { error: error.slice(0, 4000) }) });
    entry.am = undefined;
    entry.waiting = undefined;
    const appId = entry.seed.appId;
    if (status === 'killed') this.#killEverywhere(appId);
    else {
      // The AppMaster exits by itself after flushing its logs; a stuck one is killed later.
      this.#killEverywhere(appId, { role: 'executor' });
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#killEverywhere(appId);
      }, FINISH_GRACE_MS);
      this.#timers.add(t);
    }
    const app = await this.#appStorage(appId).catch(() => undefined);
    await app?.updateMeta({ status }).catch((err: unknown) => this.opts.logger.warn({ appId, err: String(err) }, 'could not record the final status in the store'));
  }

  #monitor(): void {
    const now = Date.now();
    const wt = this.opts.workerTimeoutMs ?? 5000;
    for (const w of [...this.#workers.values()]) {
      if (now - w.lastSeen > wt) {
        this.opts.logger.warn({ worker: w.id, executors: w.executors.length }, 'worker lost');
        this.#workers.delete(w.id);
      }
    }
    for (const entry of this.#apps.values()) {
      // One check per app at a time; the next tick comes soon.
      if (entry.seed.status !== 'running' || entry.busy > 0) continue;
      void this.#run(entry, () => this.#check(entry)).catch((err: unknown) =>
        this.opts.logger.error({ appId: entry.seed.appId, err }, 'monitor failed'),
      );
    }
  }

  /** Is the app's AppMaster alive, starting, or lost? Relaunch when due. */
  async #check(entry: AppEntry): Promise<void> {
    if (entry.seed.status !== 'running') return;
    const am = entry.am;
    if (am) {
      const now = Date.now();
      const amt = this.opts.appMasterTimeoutMs ?? 10_000;
      const hosted = this.#hosted(entry.seed.appId, am.amEpoch);
      if (am.started) {
        if ((now - am.lastSeen > amt && !hosted) || now - am.lastSeen > 3 * amt) await this.#amLost(entry, am.amEpoch, `AppMaster (epoch ${am.amEpoch}) silent for ${now - am.lastSeen} ms`);
      } else if ((!hosted && now - am.launchedAt > 3 * amt) || now - am.launchedAt > 30 * amt) {
        // Loading a large artifact is not a hung start while its worker reports it alive.
        await this.#amLost(entry, am.amEpoch, `AppMaster (epoch ${am.amEpoch}) did not start within ${now - am.launchedAt} ms`);
      }
    }
    await this.#ensureAppMaster(entry);
  }

  #hosted(appId: string, amEpoch: number): boolean {
    for (const w of this.#workers.values()) {
      if (w.executors.some((e) => e.appId === appId && e.role === 'appmaster' && e.epoch === amEpoch)) return true;
      if (w.launched.some((e) => e.appId === appId && e.role === 'appmaster' && e.epoch === amEpoch)) return true;
      if (w.commands.some((c) => c.type === 'launch' && c.appId === appId && c.role === 'appmaster' && c.epoch === amEpoch)) return true;
    }
    return false;
  }

  #onExited(e: ExitedExecutor): void {
    const entry = this.#apps.get(e.appId);
    if (!entry || entry.seed.status !== 'running') return;
    if (e.role === 'executor') {
      if (e.epoch === entry.seed.epoch) entry.exits.push(e);
      return;
    }
    const am = entry.am;
    if (!am || e.epoch !== am.amEpoch) return; // a replaced AppMaster: expected
    const how = e.signal ? `signal ${e.signal}` : `code ${e.code}`;
    void this.#run(entry, () => this.#amLost(entry, e.epoch, `AppMaster (epoch ${e.epoch}) exited with ${how}`)).catch((err: unknown) =>
      this.opts.logger.error({ appId: e.appId, err }, 'handling an AppMaster exit failed'),
    );
  }

  /** An AppMaster call must come from the current AppMaster at the current epoch. */
  #checkAm(entry: AppEntry, body: { epoch: number; amEpoch: number }): void {
    const { seed } = entry;
    if (seed.status !== 'running') throw new EngineError('APP_STATE', `app ${seed.appId} is ${seed.status}`);
    if (entry.am && body.amEpoch !== entry.am.amEpoch) throw new EngineError('APP_STATE', `AppMaster of epoch ${body.amEpoch} is replaced by epoch ${entry.am.amEpoch}`);
    if (body.epoch !== seed.epoch) throw new EngineError('APP_STATE', `epoch ${body.epoch} is fenced by ${seed.epoch}`);
  }

  #executorReports(entry: AppEntry): ExecutorReport[] {
    const out: ExecutorReport[] = [];
    const epoch = entry.seed.epoch;
    for (const w of this.#workers.values()) {
      for (const e of w.executors) {
        if (e.appId === entry.seed.appId && e.role === 'executor' && e.epoch === epoch) out.push({ executor: e.executor, epoch, state: 'running', worker: w.id, pid: e.pid, startedAt: e.startedAt });
      }
    }
    for (const e of entry.exits) {
      if (e.epoch === epoch) out.push({ executor: e.executor, epoch, state: 'exited', worker: '', pid: e.pid, startedAt: e.startedAt, code: e.code, signal: e.signal });
    }
    return out;
  }

  async submit(name: string, body: AsyncIterable<Uint8Array>, size: number | undefined, rawConfig: unknown, owner: string): Promise<{ appId: string; sha256: string; size: number }> {
    try {
      validateName('appName', name);
    } catch (err) {
      throw new EngineError('BAD_REQUEST', (err as Error).message);
    }
    const config = this.#validateConfig(rawConfig);
    const max = this.opts.maxArtifactBytes ?? 512 * 1024 * 1024;
    if (size !== undefined && size > max) throw new EngineError('ARTIFACT_TOO_LARGE', `artifact of ${size} bytes exceeds the cluster limit of ${max} bytes (master.maxArtifactBytes)`);
    const appId = `${name}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.slice(-128);
    const app = await this.opts.storage.createAppStorage(name, appId, { owner });
    let created = false;
    try {
      const info = await app.jars.put(JAR_NAME, limitBytes(body, max), size === undefined ? {} : { size });
      await app.config.set(APP_CONFIG_ID, config);
      await app.updateMeta({ status: 'running', jar: JAR_NAME });
      const now = Date.now();
      const seed: AppSeed = { appId, name, owner, status: 'running', epoch: 0, jar: JAR_NAME, sha256: info.sha256, createdAt: now, updatedAt: now, restarts: 0, recentRestarts: [] };
      const rev = await this.opts.seeds.create(seed);
      created = true;
      const entry: AppEntry = { seed, rev, exits: [], config, queue: Promise.resolve(), busy: 0 };
      this.#apps.set(appId, entry);
      await this.#run(entry, () => this.#ensureAppMaster(entry));
      this.opts.logger.info({ appId, owner, size: info.size }, 'app submitted');
      return { appId, sha256: info.sha256, size: info.size };
    } catch (err) {
      // Nothing half-made stays behind: no seed points at it, so drop the store too.
      if (!created) await this.opts.storage.deleteAppStorage(appId).catch(() => {});
      throw err;
    } finally {
      await app.close();
    }
  }

  #validateConfig(raw: unknown): Record<string, unknown> {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new EngineError('BAD_REQUEST', 'config must be a JSON object');
    const config = parseBody(appConfigSchema, raw, 'app config');
    const maxExecutors = this.opts.maxExecutors ?? 32;
    if (config.executors !== undefined && config.executors > maxExecutors) {
      throw new EngineError('LIMIT_EXCEEDED', `executors=${config.executors} exceeds the cluster limit of ${maxExecutors} (apps.maxExecutors)`);
    }
    return config;
  }

  async kill(appId: string): Promise<Record<string, unknown>> {
    const entry = this.#entry(appId);
    return this.#run(entry, async () => {
      if (entry.seed.status !== 'running') throw new EngineError('APP_STATE', `app ${appId} is already ${entry.seed.status}`);
      await this.#finish(entry, 'killed', undefined);
      this.opts.logger.info({ appId }, 'app killed');
      return this.describe(entry);
    });
  }

  async delete(appId: string): Promise<{ deleted: string }> {
    const entry = this.#entry(appId);
    return this.#run(entry, async () => {
      if (entry.seed.status === 'running') throw new EngineError('APP_STATE', `app ${appId} is running: kill it first`);
      this.#killEverywhere(appId);
      const store = this.#stores.get(appId);
      this.#stores.delete(appId);
      await store?.then((a) => a?.close()).catch(() => {});
      await this.opts.storage.deleteAppStorage(appId);
      await this.opts.seeds.delete(appId, entry.rev);
      this.#apps.delete(appId);
      this.opts.logger.info({ appId }, 'app deleted');
      return { deleted: appId };
    });
  }

  describe(entry: AppEntry): Record<string, unknown> {
    const { seed } = entry;
    const executors = [...this.#workers.values()].flatMap((w) => w.executors.filter((e) => e.appId === seed.appId).map((e) => ({ ...e, worker: w.id, host: w.host })));
    const waiting = entry.waiting ?? entry.am?.status?.waiting;
    const status = seed.status === 'running' && waiting ? 'pending' : seed.status;
    return { ...seed, status, ...(waiting && seed.status === 'running' ? { waiting } : {}), appMaster: entry.am?.status ?? null, executors };
  }

  #router(): JsonRouter {
    const r = new JsonRouter();
    r.add('GET', '/health', async () => ({
      ok: true, role: 'single', leader: this.address, address: this.address, workers: this.#workers.size, apps: this.#apps.size, startedAt: this.startedAt,
    }));
    r.add('GET', '/workers', async () => ({
      workers: [...this.#workers.values()].map((w) => ({ id: w.id, host: w.host, slots: w.slots, usedSlots: this.#load(w), lastSeen: w.lastSeen, version: w.version, executors: w.executors })),
    }));
    r.add('POST', '/workers/register', async (req) => {
      const b = parseBody(workerRegisterSchema, await readJson(req), 'worker registration');
      const id = b.name ?? `worker-${randomBytes(3).toString('hex')}`;
      this.#workers.set(id, { id, host: b.host, slots: b.slots, lastSeen: Date.now(), executors: b.executors, commands: [], launched: [], ...(b.version ? { version: b.version } : {}) });
      this.opts.logger.info({ worker: id, slots: b.slots }, 'worker registered');
      return { workerId: id };
    });
    r.add('POST', '/workers/:id/heartbeat', async (req, p) => {
      const b = parseBody(workerHeartbeatSchema, await readJson(req), 'worker heartbeat');
      const w = this.#workers.get(p.id!);
      if (!w) throw new EngineError('APP_NOT_FOUND', `worker ${p.id} is not registered`);
      const now = Date.now();
      w.lastSeen = now;
      w.executors = b.executors;
      const seen = (l: LaunchedExecutor): boolean =>
        [...b.executors, ...b.exited].some((e) => e.appId === l.appId && e.role === l.role && e.executor === l.executor && e.epoch === l.epoch);
      w.launched = w.launched.filter((l) => !seen(l) && now - l.at < LAUNCH_HOLD_MS);
      for (const e of b.exited) this.#onExited(e);
      const commands = w.commands;
      w.commands = [];
      for (const c of commands) if (c.type === 'launch') w.launched.push({ appId: c.appId, role: c.role, executor: c.executor, epoch: c.epoch, at: now });
      return { commands };
    });
    r.add('POST', '/apps', async (req, _p, url) => {
      const name = url.searchParams.get('name') ?? '';
      let config: unknown;
      try {
        config = JSON.parse(url.searchParams.get('config') ?? '{}');
      } catch {
        throw new EngineError('BAD_REQUEST', 'config must be a JSON object');
      }
      return this.submit(name, req, contentLength(req), config, String(req.headers['x-sluice-user'] ?? 'sluice'));
    });
    r.add('GET', '/apps', async () => ({ apps: [...this.#apps.values()].map((e) => this.describe(e)) }));
    r.add('GET', '/apps/:id', async (_req, p) => this.describe(this.#entry(p.id!)));
    r.add('DELETE', '/apps/:id', async (_req, p) => this.delete(p.id!));
    r.add('POST', '/apps/:id/kill', async (_req, p) => this.kill(p.id!));
    r.add('POST', '/apps/:id/am/heartbeat', async (req, p): Promise<AmHeartbeatReply> => {
      const b = parseBody(appMasterStatusSchema, await readJson(req), 'AppMaster heartbeat');
      const entry = this.#entry(p.id!);
      const { seed } = entry;
      if (seed.status !== 'running') throw new EngineError('APP_STATE', `app ${seed.appId} is ${seed.status}`);
      if (!entry.am) {
        // After a master restart: adopt the AppMaster that runs at the seed's epoch.
        if (b.epoch !== seed.epoch) throw new EngineError('APP_STATE', `epoch ${b.epoch} is fenced by ${seed.epoch}`);
        entry.am = { amEpoch: b.amEpoch, launchedAt: Date.now(), lastSeen: Date.now(), started: true };
      }
      if (b.amEpoch !== entry.am.amEpoch) throw new EngineError('APP_STATE', `AppMaster of epoch ${b.amEpoch} is replaced by epoch ${entry.am.amEpoch}`);
      entry.am.lastSeen = Date.now();
      entry.am.started = true;
      // A heartbeat of the current AppMaster sent just before its own epoch bump: not a fence.
      if (b.epoch === seed.epoch) entry.am.status = b;
      return { ok: true, executors: this.#executorReports(entry) };
    });
    r.add('POST', '/apps/:id/restart', async (req, p): Promise<RestartReply> => {
      const b = parseBody(restartRequestSchema, await readJson(req), 'restart request');
      const entry = this.#entry(p.id!);
      return this.#run(entry, async () => {
        this.#checkAm(entry, b);
        const r = await this.#recordFailure(entry, b.reason, true);
        if (r.failed) throw new EngineError('APP_STATE', `app ${entry.seed.appId} failed: ${entry.seed.error ?? b.reason}`);
        this.#killEverywhere(entry.seed.appId, { belowEpoch: entry.seed.epoch, role: 'executor' });
        return { epoch: entry.seed.epoch, notBefore: r.notBefore };
      });
    });
    r.add('POST', '/apps/:id/executors', async (req, p): Promise<ExecutorsReply> => {
      const b = parseBody(executorsRequestSchema, await readJson(req), 'executors request');
      const entry = this.#entry(p.id!);
      return this.#run(entry, async () => {
        this.#checkAm(entry, b);
        const { seed } = entry;
        this.#killEverywhere(seed.appId, { belowEpoch: seed.epoch, role: 'executor' });
        // All or nothing: a partial placement would hold slots other apps may need.
        const free = this.#freeSlots();
        if (free < b.executors.length) {
          entry.waiting = `needs ${b.executors.length} executor slots, ${free} free`;
          return { placed: [], waiting: entry.waiting };
        }
        entry.waiting = undefined;
        const placed: Array<{ executor: number; worker: string }> = [];
        for (const i of b.executors) {
          const w = this.#freeWorkers()[0]!;
          this.#push(w, { type: 'launch', appId: seed.appId, role: 'executor', executor: i, epoch: seed.epoch, jar: seed.jar, sha256: seed.sha256, am: b.am });
          placed.push({ executor: i, worker: w.id });
        }
        return { placed };
      });
    });
    r.add('POST', '/apps/:id/finish', async (req, p) => {
      const b = parseBody(finishRequestSchema, await readJson(req), 'finish request');
      const entry = this.#entry(p.id!);
      return this.#run(entry, async () => {
        this.#checkAm(entry, b);
        await this.#finish(entry, b.status, b.error);
        this.opts.logger.info({ appId: entry.seed.appId, status: b.status, error: b.error }, 'app finished');
        return { ok: true };
      });
    });
    return r;
  }
}

function contentLength(req: IncomingMessage): number | undefined {
  const len = req.headers['content-length'];
  if (len === undefined) return undefined;
  const n = Number(len);
  if (!Number.isSafeInteger(n) || n < 0) throw new EngineError('BAD_REQUEST', 'content-length must be a non-negative integer');
  return n;
}

/** Streams the body through, failing as soon as it passes `max` bytes (chunked uploads too). */
async function* limitBytes(body: AsyncIterable<Uint8Array>, max: number): AsyncIterable<Uint8Array> {
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > max) throw new EngineError('ARTIFACT_TOO_LARGE', `artifact exceeds the cluster limit of ${max} bytes (master.maxArtifactBytes)`);
    yield c;
  }
}
