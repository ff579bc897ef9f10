import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { validateName, type AppStorage, type Storage } from '@sluice/storage-api';
import { observabilityRoutes } from '../observability/index.js';
import { EngineError } from '../errors.js';
import type { TaskLogger } from '../dsl/task.js';
import { JsonRouter, readJson } from './http.js';
import type { AppSeed, SeedStore } from './seed-store.js';
import type { AppMasterStatus, ExitedExecutor, RunningExecutor, WorkerCommand } from './protocol.js';

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
}

interface WorkerState {
  id: string;
  host: string;
  slots: number;
  lastSeen: number;
  executors: RunningExecutor[];
  commands: WorkerCommand[];
}

interface AmState {
  /**
   * Epoch the current AppMaster was launched with (unknown after a master restart).
   * Only its exit means the app lost its AppMaster: exits of older, replaced AppMasters
   * are expected and must not trigger another launch (that loop relaunched forever).
   */
  launchEpoch?: number;
  epoch: number;
  lastSeen: number;
  status?: AppMasterStatus;
}

export const APP_CONFIG_ID = '_app';
export const JAR_NAME = 'app.mjs';

/**
 * The master: control API, app registry (seeds only) and worker registry. It never
 * runs app code: each app's AppMaster runs in an executor on a worker, so a master
 * restart does not stop apps; on restart the seeds are reloaded and workers
 * re-register with what they run.
 */
export class Master {
  readonly #workers = new Map<string, WorkerState>();
  readonly #seeds = new Map<string, AppSeed>();
  readonly #am = new Map<string, AmState>();
  #server: Server | undefined;
  #timer: NodeJS.Timeout | undefined;
  #nextWorker = 0;
  readonly startedAt = Date.now();

  constructor(readonly opts: MasterOptions) {}

  get address(): string {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? `${this.opts.host}:${a.port}` : `${this.opts.host}:${this.opts.port}`;
  }

  async start(): Promise<void> {
    for (const s of await this.opts.seeds.load()) {
      this.#seeds.set(s.appId, s);
      // Give running AppMasters time to check in before replacing them.
      if (s.status === 'running') this.#am.set(s.appId, { epoch: s.epoch, lastSeen: Date.now() });
    }
    // Logs and metrics query API (GET /apps/:id/logs|metrics) and Prometheus GET /metrics.
    const obs = observabilityRoutes({
      getAppStorage: (id) => this.#appStorage(id),
      prometheus: () => ({ cluster: this.#snapshot() }),
      processMetrics: true,
    });
    this.#server = await this.#router().listen(this.opts.host, this.opts.port, obs);
    this.#timer = setInterval(() => void this.#monitor().catch((err) => this.opts.logger.error({ err: String(err) }, 'monitor failed')), 500);
    this.opts.logger.info({ address: this.address, apps: this.#seeds.size }, 'master started');
  }

  /** App stores opened for log/metric queries, kept open (one handle per app). */
  readonly #apps = new Map<string, Promise<AppStorage | undefined>>();
  #appStorage(appId: string): Promise<AppStorage | undefined> {
    let p = this.#apps.get(appId);
    if (!p) {
      p = this.opts.storage.getAppStorage(appId);
      this.#apps.set(appId, p);
      p.then((a) => a === undefined && this.#apps.delete(appId), () => this.#apps.delete(appId));
    }
    return p;
  }

  #snapshot() {
    const now = Date.now();
    return {
      uptimeSeconds: (now - this.startedAt) / 1000,
      workers: [...this.#workers.values()].map((w) => ({ id: w.id, host: w.host, alive: true, slots: w.slots, usedSlots: w.executors.length })),
      apps: [...this.#seeds.values()].map((s) => {
        const am = this.#am.get(s.appId)?.status;
        return {
          appId: s.appId, appName: s.name, status: s.status, epoch: s.epoch,
          ...(am ? { executors: am.executors, restarts: am.restarts, ...(am.committed === undefined ? {} : { lastCheckpointTs: am.committed }) } : {}),
        };
      }),
    };
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    for (const p of this.#apps.values()) void p.then((a) => a?.close()).catch(() => {});
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
    this.#server?.closeAllConnections?.();
    await this.opts.seeds.close();
  }

  #seed(appId: string): AppSeed {
    const s = this.#seeds.get(appId);
    if (!s) throw new EngineError('APP_NOT_FOUND', `app ${appId} not found`);
    return s;
  }

  async #save(seed: AppSeed): Promise<void> {
    seed.updatedAt = Date.now();
    this.#seeds.set(seed.appId, seed);
    await this.opts.seeds.put(seed);
  }

  #checkEpoch(seed: AppSeed, epoch: unknown): void {
    if (seed.status !== 'running') throw new EngineError('APP_STATE', `app ${seed.appId} is ${seed.status}`, { details: { status: 409 } });
    if (epoch !== seed.epoch) throw new EngineError('APP_STATE', `epoch ${String(epoch)} is fenced by ${seed.epoch}`, { details: { status: 409 } });
  }

  #pickWorker(): WorkerState | undefined {
    const ws = [...this.#workers.values()].sort((a, b) => a.id.localeCompare(b.id));
    if (ws.length === 0) return undefined;
    // Least loaded first; round-robin among equals.
    const load = (w: WorkerState): number => w.executors.length + w.commands.filter((c) => c.type === 'launch').length;
    const min = Math.min(...ws.map(load));
    const candidates = ws.filter((w) => load(w) === min);
    return candidates[this.#nextWorker++ % candidates.length];
  }

  async #launchAppMaster(seed: AppSeed): Promise<void> {
    const w = this.#pickWorker();
    seed.epoch += 1;
    await this.#save(seed);
    this.#am.set(seed.appId, { epoch: seed.epoch, launchEpoch: seed.epoch, lastSeen: Date.now() });
    if (!w) {
      this.opts.logger.warn({ appId: seed.appId }, 'no worker for the AppMaster yet; will retry');
      return;
    }
    w.commands.push({ type: 'launch', appId: seed.appId, role: 'appmaster', executor: -1, epoch: seed.epoch, jar: seed.jar, sha256: seed.sha256 });
    this.opts.logger.info({ appId: seed.appId, epoch: seed.epoch, worker: w.id }, 'launching AppMaster');
  }

  async #monitor(): Promise<void> {
    const now = Date.now();
    const wt = this.opts.workerTimeoutMs ?? 5000;
    for (const w of [...this.#workers.values()]) {
      if (now - w.lastSeen > wt) {
        this.opts.logger.warn({ worker: w.id }, 'worker lost');
        this.#workers.delete(w.id);
      }
    }
    const amt = this.opts.appMasterTimeoutMs ?? 10_000;
    for (const seed of this.#seeds.values()) {
      if (seed.status !== 'running') continue;
      const am = this.#am.get(seed.appId);
      const hosted = [...this.#workers.values()].some((w) => w.executors.some((e) => e.appId === seed.appId && e.role === 'appmaster'));
      const pendingLaunch = [...this.#workers.values()].some((w) => w.commands.some((c) => c.type === 'launch' && c.appId === seed.appId && c.role === 'appmaster'));
      if (pendingLaunch) continue;
      if (!am || (now - am.lastSeen > amt && !hosted) || (now - am.lastSeen > 3 * amt)) {
        if (this.#workers.size === 0) continue;
        this.opts.logger.warn({ appId: seed.appId }, 'AppMaster silent; relaunching');
        await this.#launchAppMaster(seed);
      }
    }
  }

  async #onExited(e: ExitedExecutor): Promise<void> {
    const seed = this.#seeds.get(e.appId);
    if (!seed || e.role !== 'appmaster' || seed.status !== 'running' || e.epoch > seed.epoch) return;
    const am = this.#am.get(e.appId);
    // An AppMaster of a still-running app exited: start a new one (new epoch fences the old one's executors).
    if (am && am.epoch <= seed.epoch && (am.launchEpoch === undefined || e.epoch === am.launchEpoch)) {
      this.opts.logger.warn({ appId: e.appId, epoch: e.epoch, code: e.code, signal: e.signal }, 'AppMaster exited; relaunching');
      for (const w of this.#workers.values()) w.commands.push({ type: 'kill', appId: e.appId, belowEpoch: seed.epoch + 1 });
      await this.#launchAppMaster(seed);
    }
  }

  async submit(name: string, body: AsyncIterable<Uint8Array>, size: number | undefined, config: Record<string, unknown>, owner: string): Promise<{ appId: string; sha256: string; size: number }> {
    try {
      validateName('appName', name);
    } catch (err) {
      throw new EngineError('BAD_REQUEST', (err as Error).message);
    }
    const appId = `${name}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.slice(-128);
    const app = await this.opts.storage.createAppStorage(name, appId, { owner });
    try {
      const info = await app.jars.put(JAR_NAME, body, size === undefined ? {} : { size });
      await app.config.set(APP_CONFIG_ID, config);
      await app.updateMeta({ status: 'running', jar: JAR_NAME });
      const now = Date.now();
      const seed: AppSeed = { appId, name, status: 'running', epoch: 0, jar: JAR_NAME, sha256: info.sha256, createdAt: now, updatedAt: now };
      await this.#save(seed);
      await this.#launchAppMaster(seed);
      return { appId, sha256: info.sha256, size: info.size };
    } finally {
      await app.close();
    }
  }

  async #setStatus(seed: AppSeed, status: AppSeed['status'], error?: string): Promise<void> {
    seed.status = status;
    if (error) seed.error = error;
    await this.#save(seed);
    this.#am.delete(seed.appId);
    const app = await this.opts.storage.getAppStorage(seed.appId);
    if (app) {
      try {
        await app.updateMeta({ status });
      } finally {
        await app.close();
      }
    }
  }

  describe(seed: AppSeed): Record<string, unknown> {
    const am = this.#am.get(seed.appId);
    const executors = [...this.#workers.values()].flatMap((w) => w.executors.filter((e) => e.appId === seed.appId).map((e) => ({ ...e, worker: w.id, host: w.host })));
    return { ...seed, appMaster: am?.status ?? null, executors };
  }

  #router(): JsonRouter {
    const r = new JsonRouter();
    r.add('GET', '/health', async () => ({ ok: true, address: this.address, workers: this.#workers.size, apps: this.#seeds.size, startedAt: this.startedAt }));
    r.add('GET', '/workers', async () => ({ workers: [...this.#workers.values()].map((w) => ({ id: w.id, host: w.host, slots: w.slots, lastSeen: w.lastSeen, executors: w.executors })) }));
    r.add('POST', '/workers/register', async (req) => {
      const b = await readJson(req);
      const id = typeof b.name === 'string' && b.name ? b.name : `worker-${randomBytes(3).toString('hex')}`;
      this.#workers.set(id, { id, host: String(b.host ?? '127.0.0.1'), slots: Number(b.slots ?? 4), lastSeen: Date.now(), executors: b.executors ?? [], commands: [] });
      this.opts.logger.info({ worker: id }, 'worker registered');
      return { workerId: id };
    });
    r.add('POST', '/workers/:id/heartbeat', async (req, p) => {
      const b = await readJson(req);
      const w = this.#workers.get(p.id!);
      if (!w) throw new EngineError('APP_NOT_FOUND', `worker ${p.id} is not registered`, { details: { status: 404 } });
      w.lastSeen = Date.now();
      w.executors = (b.executors ?? []) as RunningExecutor[];
      for (const e of (b.exited ?? []) as ExitedExecutor[]) await this.#onExited(e);
      const commands = w.commands;
      w.commands = [];
      return { commands };
    });
    r.add('POST', '/apps', async (req, _p, url) => {
      const name = url.searchParams.get('name') ?? '';
      let config: Record<string, unknown> = {};
      try {
        config = JSON.parse(url.searchParams.get('config') ?? '{}') as Record<string, unknown>;
      } catch {
        throw new EngineError('BAD_REQUEST', 'config must be a JSON object');
      }
      const len = req.headers['content-length'];
      return this.submit(name, req, len ? Number(len) : undefined, config, String(req.headers['x-sluice-user'] ?? 'sluice'));
    });
    r.add('GET', '/apps', async () => ({ apps: [...this.#seeds.values()].map((s) => this.describe(s)) }));
    r.add('GET', '/apps/:id', async (_req, p) => this.describe(this.#seed(p.id!)));
    r.add('POST', '/apps/:id/kill', async (_req, p) => {
      const seed = this.#seed(p.id!);
      if (seed.status !== 'running') throw new EngineError('APP_STATE', `app ${seed.appId} is already ${seed.status}`, { details: { status: 409 } });
      await this.#setStatus(seed, 'killed');
      for (const w of this.#workers.values()) w.commands.push({ type: 'kill', appId: seed.appId });
      return this.describe(seed);
    });
    r.add('POST', '/apps/:id/am/heartbeat', async (req, p) => {
      const b = await readJson(req);
      const seed = this.#seed(p.id!);
      this.#checkEpoch(seed, b.epoch);
      const prev = this.#am.get(seed.appId);
      this.#am.set(seed.appId, { epoch: seed.epoch, launchEpoch: prev?.launchEpoch, lastSeen: Date.now(), status: b as AppMasterStatus });
      return { ok: true };
    });
    r.add('POST', '/apps/:id/epoch', async (req, p) => {
      const b = await readJson(req);
      const seed = this.#seed(p.id!);
      this.#checkEpoch(seed, b.epoch);
      seed.epoch += 1;
      await this.#save(seed);
      const am = this.#am.get(seed.appId);
      if (am) am.epoch = seed.epoch;
      return { epoch: seed.epoch };
    });
    r.add('POST', '/apps/:id/executors', async (req, p) => {
      const b = await readJson(req);
      const seed = this.#seed(p.id!);
      this.#checkEpoch(seed, b.epoch);
      if (this.#workers.size === 0) throw new EngineError('NO_WORKERS', 'no worker is registered');
      for (const w of this.#workers.values()) w.commands.push({ type: 'kill', appId: seed.appId, belowEpoch: seed.epoch });
      const placed: Array<{ executor: number; worker: string }> = [];
      for (const i of b.executors as number[]) {
        const w = this.#pickWorker()!;
        w.commands.push({ type: 'launch', appId: seed.appId, role: 'executor', executor: i, epoch: seed.epoch, jar: seed.jar, sha256: seed.sha256, am: String(b.am) });
        placed.push({ executor: i, worker: w.id });
      }
      return { placed };
    });
    r.add('POST', '/apps/:id/finish', async (req, p) => {
      const b = await readJson(req);
      const seed = this.#seed(p.id!);
      this.#checkEpoch(seed, b.epoch);
      const status = b.status === 'failed' ? 'failed' : 'stopped';
      await this.#setStatus(seed, status, typeof b.error === 'string' ? b.error : undefined);
      for (const w of this.#workers.values()) w.commands.push({ type: 'kill', appId: seed.appId, belowEpoch: seed.epoch });
      this.opts.logger.info({ appId: seed.appId, status, error: b.error }, 'app finished');
      return { ok: true };
    });
    return r;
  }
}
