import type { IncomingMessage, IncomingMessage as Req, Server, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { ENGINE_VERSION } from '../version.js';
import { validateName, type AppStorage, type RetentionPolicy, type Storage } from '@sluice/storage-api';
import { RetentionDaemon } from './retention-daemon.js';
import { observabilityRoutes } from '../observability/index.js';
import { EngineError, httpStatusOf } from '../errors.js';
import type { Logger } from 'pino';
import { JsonRouter, readJson, type RouteInfo } from './http.js';
import { aclSetSchema, parseBody, parseSubmitQuery } from './schemas.js';
import { assertBlobsReadable, checkAppBlobs, registerBlobRoutes } from './blob-routes.js';
import { checkStartFrom, registerSavepointRoutes } from '../runtime/savepoint-routes.js';
import { autoRollback, registerUpdateRoutes, type UpdateDeps } from '../runtime/savepoint-update.js';
import type { AppVersions } from '../runtime/savepoint-versions.js';
import { authOff, type Authenticate } from '../security/authenticator.js';
import { assertAuthorized, authorize, filterReadable, type Permission } from '../security/authorize.js';
import { AUTH_OFF_PRINCIPAL, type Principal } from '../security/principal.js';
import { appDaemonToken, type DaemonRole } from '../security/tokens.js';
import type { TlsServerMaterial } from '../security/tls.js';
import { policyFor, recordRestart, type RestartPolicy } from './restart-policy.js';
import type { AppSeed, SeedStore } from './seed-store.js';
import {
  appConfigSchema, appMasterStatusSchema, blobsCheckRequestSchema, executorsRequestSchema, finishRequestSchema, restartRequestSchema, workerHeartbeatSchema, workerRegisterSchema,
  type AmHeartbeatReply, type AppMasterStatus, type ExecutorReport, type ExecutorsReply, type ExitedExecutor, type RestartReply, type RunningExecutor, type WorkerCommand,
} from './protocol.js';

export interface MasterOptions {
  host: string;
  port: number;
  storage: Storage;
  seeds: SeedStore;
  logger: Logger;
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
  /** Authentication (users file, daemon tokens); absent means auth off (tests, embedded use). */
  auth?: { authenticate: Authenticate; superusers: readonly string[]; clusterSecret: Buffer | undefined };
  /** Serve the control API over HTTPS. */
  tls?: TlsServerMaterial;
  /** Sub-store -> backend module, shown on the dashboard's app page. */
  storageRouting?: Record<string, string>;
  /** Applies retention periodically while this master serves (`master.retentionIntervalMs`). */
  retention?: { policy: RetentionPolicy; intervalMs: number };
  /**
   * Master HA: the election this master campaigns in (built once the address is known).
   * Only the leader loads seeds and serves; followers answer NOT_LEADER naming it.
   */
  ha?: (address: string) => MasterElection;
}

/** What the master needs of its leader election (LeaderElection on etcd). */
export interface MasterElection {
  readonly role: 'leader' | 'follower';
  readonly leader: string | undefined;
  /** Every master campaigning (its address), the leader first. */
  readonly candidates: readonly string[];
  on(event: 'change', listener: (c: { role: 'leader' | 'follower'; leader: string | undefined }) => void): unknown;
  start(): Promise<void>;
  stop(): Promise<void>;
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
  /** Its warm standbys, as its last heartbeat said: what a recovery on it can take. */
  standbys?: { ready: number; target: number };
  commands: WorkerCommand[];
  /** Launches handed to the worker but not yet in its reports: they hold a slot. */
  launched: LaunchedExecutor[];
}

/** The app's current AppMaster, from its launch until it is replaced or the app ends. */
interface AmState {
  /**
   * The epoch it was launched with: its identity across its own epoch bumps. Unknown
   * after a master restart or failover until its first heartbeat (adoption).
   */
  amEpoch: number | undefined;
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
  /** The last restart answered, so a retried request (its reply lost) gets the same answer. */
  lastRestart?: { fromEpoch: number; amEpoch: number; reply: RestartReply };
  /** True while an AppMaster launch is admitted and its seed write in flight (holds slots). */
  admitting?: boolean;
  /** The epoch executors were last placed for: a retried placement is not launched twice. */
  placed?: { epoch: number; reply: ExecutorsReply };
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
    // Without HA this master is the one serving: load the seeds before the first request.
    if (!this.opts.ha) await this.#lead();
    // Logs and metrics query API (GET /apps/:id/logs|metrics), the dashboard (/ui) and
    // Prometheus GET /metrics. They authenticate bearer tokens and the dashboard's session cookie themselves.
    const obs = observabilityRoutes({
      getAppStorage: (id) => this.#appStorage(id),
      prometheus: () => ({ cluster: this.#snapshot() }),
      processMetrics: true,
      // Auth off (explicit, loopback only): the query routes and the dashboard are open too.
      ...(this.opts.auth && this.opts.auth.clusterSecret
        ? { authenticate: (token: string) => this.#userOfToken(token), authorize: (user: string, appId: string, perm: 'r' | 'w') => this.#uiAuthorize(user, appId, perm) }
        : {}),
      secureCookie: this.opts.tls !== undefined,
      ...(this.opts.storageRouting ? { storageRouting: () => this.opts.storageRouting! } : {}),
    });
    const router = this.#router();
    this.#routeTable = router.routes();
    this.#server = await router.listen(this.opts.host, this.opts.port, (req, res) => this.#followerGuard(req, res, obs), this.opts.tls ? { tls: this.opts.tls } : {});
    this.#timer = setInterval(() => this.#monitor(), 500);
    if (this.opts.ha) {
      const election = this.opts.ha(`${this.opts.tls ? 'https' : 'http'}://${this.address}`);
      this.#election = election;
      election.on('change', (c) => {
        this.#transitions = this.#transitions.then(() => (c.role === 'leader' ? this.#lead() : this.#follow())).catch((err: unknown) =>
          this.opts.logger.error({ err }, 'leadership transition failed'),
        );
      });
      await election.start();
      this.opts.logger.info({ address: this.address }, 'master started; campaigning for leadership');
    } else {
      this.opts.logger.info({ address: this.address, apps: this.#apps.size }, 'master started');
    }
  }

  #routeTable: RouteInfo[] = [];
  /** Every control route with who may call it (tests enumerate it: no route escapes auth). */
  get routeTable(): RouteInfo[] {
    return this.#routeTable;
  }

  #election: MasterElection | undefined;
  #retention: RetentionDaemon | undefined;
  #transitions: Promise<void> = Promise.resolve();
  /** True while this master serves: always without HA; while elected with it. */
  #leading = false;

  get role(): 'single' | 'leader' | 'follower' {
    if (!this.#election) return 'single';
    return this.#leading ? 'leader' : 'follower';
  }

  /**
   * Becomes the serving master: rebuilds from the seeds (the only replicated state).
   * Running AppMasters are adopted by their next heartbeat and workers re-register with
   * what they run, so a failover restarts no app and bumps no epoch.
   */
  async #lead(): Promise<void> {
    if (this.#leading) return;
    const seeds = await this.opts.seeds.load();
    this.#apps.clear();
    const now = Date.now();
    for (const { seed, rev } of seeds) {
      const entry: AppEntry = { seed, rev, exits: [], queue: Promise.resolve(), busy: 0 };
      // Give the running AppMaster a heartbeat interval to check in before replacing it.
      if (seed.status === 'running') entry.am = { amEpoch: undefined, launchedAt: now, lastSeen: now, started: true };
      this.#apps.set(seed.appId, entry);
    }
    this.#leading = true;
    if (this.opts.retention) {
      // Only the serving master collects garbage: two masters' gc passes would race.
      this.#retention = new RetentionDaemon({ storage: this.opts.storage, ...this.opts.retention, logger: this.opts.logger.child({ component: 'retention' }) });
      this.#retention.start();
    }
    if (this.#election) this.opts.logger.info({ address: this.address, apps: this.#apps.size }, 'elected leader: serving');
  }

  /** Deposed (lease lost): stop serving at once; the new leader rebuilds from the seeds. */
  async #follow(): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    await this.#retention?.stop();
    this.#retention = undefined;
    this.#apps.clear();
    this.#workers.clear();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.opts.logger.warn({ address: this.address, leader: this.#election?.leader }, 'not the leader any more: following');
  }

  /** A follower answers every route but /health (and the dashboard's static files) with NOT_LEADER. */
  async #followerGuard(req: Req, res: ServerResponse, obs: (req: Req, res: ServerResponse) => Promise<boolean>): Promise<boolean> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (this.#leading || path === '/health' || path === '/ui' || path.startsWith('/ui/assets/') || path === '/ui/') return obs(req, res);
    const leader = this.#election?.leader;
    const text = JSON.stringify({ error: { code: 'NOT_LEADER', message: leader ? `this master is a follower; the leader is ${leader}` : 'this master is a follower; no leader is elected right now', details: { leader: leader ?? null } } });
    res.writeHead(httpStatusOf('NOT_LEADER'), { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return true;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#retention?.stop();
    await this.#election?.stop().catch((err: unknown) => this.opts.logger.warn({ err }, 'leaving the election failed'));
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

  get #authenticate(): Authenticate {
    return this.opts.auth?.authenticate ?? authOff;
  }

  #authz(): { superusers: readonly string[] } {
    return { superusers: this.opts.auth?.superusers ?? [] };
  }

  #assert(p: Principal, entry: AppEntry, perm: Permission): void {
    assertAuthorized(p, { appId: entry.seed.appId, owner: entry.seed.owner, acl: entry.seed.acl }, perm, this.#authz());
  }

  /** Users the dashboard's sessions authenticated, with their admin flag (for its ACL checks). */
  readonly #uiUsers = new Map<string, Principal>();

  /** The dashboard and query routes authenticate tokens with the master's own authenticator. */
  async #userOfToken(token: string): Promise<{ user: string } | undefined> {
    const p = await this.#authenticate({ headers: { authorization: `Bearer ${token}` } } as Req);
    if (p.kind !== 'user') return undefined;
    this.#uiUsers.set(p.name, p);
    return { user: p.name };
  }

  async #uiAuthorize(user: string, appId: string, perm: 'r' | 'w'): Promise<boolean> {
    const entry = this.#apps.get(appId);
    const p = this.#uiUsers.get(user);
    if (!entry || !p) return false;
    return authorize(p, { appId, owner: entry.seed.owner, acl: entry.seed.acl }, perm, this.#authz());
  }

  /** A token for a daemon of this app at this epoch (absent with auth off). */
  #daemonToken(role: DaemonRole, appId: string, epoch: number): { token?: string } {
    const secret = this.opts.auth?.clusterSecret;
    return secret ? { token: appDaemonToken(secret, role, appId, epoch) } : {};
  }

  #snapshot() {
    const now = Date.now();
    return {
      uptimeSeconds: (now - this.startedAt) / 1000,
      workers: [...this.#workers.values()].map((w) => ({ id: w.id, host: w.host, alive: true, slots: w.slots, usedSlots: this.#load(w), ...(w.standbys ? { standbysReady: w.standbys.ready } : {}) })),
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

  /**
   * Free slots, less what other apps' AppMasters hold in reserve for their executors.
   * Without the reservation, AppMasters alone could fill the cluster and every app would
   * wait for executor slots forever (gang-scheduling deadlock).
   */
  #freeSlots(except?: AppEntry): number {
    let n = 0;
    for (const w of this.#workers.values()) n += Math.max(0, w.slots - this.#load(w));
    for (const e of this.#apps.values()) if (e !== except) n -= this.#reserved(e);
    return n;
  }

  /** Executor slots an app's AppMaster will ask for and has not been given yet. */
  #reserved(e: AppEntry): number {
    // Admitted but its launch not yet handed to a worker (the seed write is in flight).
    if (e.admitting) return 1 + executorsOf(e.config);
    if (e.seed.status !== 'running' || !e.am) return 0;
    if (e.placed?.epoch === e.seed.epoch && e.placed.reply.placed.length > 0) return 0;
    return executorsOf(e.config);
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
    // Admission: the AppMaster starts only when its executors will fit too.
    const need = 1 + executorsOf(await this.#configOf(entry));
    const free = this.#freeSlots(entry);
    if (this.#freeWorkers().length === 0 || free < need) {
      entry.waiting = this.#workers.size === 0 ? 'no worker is registered' : `needs ${need} slots (AppMaster + executors), ${Math.max(0, free)} free`;
      return;
    }
    const { nextAttemptAt: _done, ...rest } = seed;
    // Hold the slots across the seed write, or concurrent admissions would all see them free.
    entry.admitting = true;
    try {
      await this.#write(entry, { ...rest, epoch: seed.epoch + 1 });
    } finally {
      entry.admitting = false;
    }
    // Picked after the write: other launches may have taken slots meanwhile.
    const w = this.#freeWorkers()[0] ?? [...this.#workers.values()][0];
    const epoch = entry.seed.epoch;
    entry.am = { amEpoch: epoch, launchedAt: now, lastSeen: now, started: false, ...(w ? { worker: w.id } : {}) };
    if (!w) {
      // Every worker went away during the write: the monitor relaunches once one is back.
      this.opts.logger.warn({ appId: seed.appId, epoch }, 'no worker for the AppMaster; will retry');
      return;
    }
    entry.waiting = undefined;
    entry.exits = [];
    // Whatever ran under an older epoch is fenced from now on: stop it.
    this.#killEverywhere(seed.appId, { belowEpoch: epoch });
    this.#push(w, { type: 'launch', appId: seed.appId, role: 'appmaster', executor: -1, epoch, jar: seed.jar, sha256: seed.sha256, ...this.#daemonToken('appmaster', seed.appId, epoch) });
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
  async #recordFailure(entry: AppEntry, reason: string, bumpEpoch: boolean, progressed = false): Promise<{ failed: boolean; notBefore: number }> {
    const policy = policyFor(this.policy, await this.#configOf(entry));
    const d = recordRestart(entry.seed, policy, reason, Date.now(), progressed);
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
  async #amLost(entry: AppEntry, amEpoch: number | undefined, reason: string): Promise<void> {
    if (entry.seed.status !== 'running' || !entry.am || entry.am.amEpoch !== amEpoch) return;
    entry.am = undefined;
    const last = entry.seed.lastFailure;
    // The AppMaster usually reported why it was failing before it went away.
    const why = last && amEpoch !== undefined && last.epoch >= amEpoch && Date.now() - last.at < 60_000 && !reason.includes(last.reason) ? `${reason}; last error: ${last.reason}` : reason;
    const r = await this.#recordFailure(entry, why, false);
    if (!r.failed) this.#killEverywhere(entry.seed.appId);
  }

  async #finish(entry: AppEntry, status: 'stopped' | 'failed' | 'killed', error: string | undefined, base: AppSeed = entry.seed): Promise<void> {
    const { nextAttemptAt: _n, ...rest } = base;
    await this.#write(entry, { ...rest, status, ...(error === undefined ? {} : { error: error.slice(0, 4000) }) });
    entry.am = undefined;
    entry.waiting = undefined;
    const appId = entry.seed.appId;
    // Only what ran up to now: `sluice update`/rollback may relaunch the app (higher epochs) meanwhile.
    const belowEpoch = entry.seed.epoch + 1;
    if (status === 'killed') this.#killEverywhere(appId, { belowEpoch });
    else {
      // The AppMaster exits by itself after flushing its logs; a stuck one is killed later.
      this.#killEverywhere(appId, { role: 'executor', belowEpoch });
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#killEverywhere(appId, { belowEpoch });
      }, FINISH_GRACE_MS);
      this.#timers.add(t);
    }
    const app = await this.#appStorage(appId).catch(() => undefined);
    await app?.updateMeta({ status }).catch((err: unknown) => this.opts.logger.warn({ appId, err: String(err) }, 'could not record the final status in the store'));
    if (status === 'failed') this.#onFailed?.(appId);
  }

  #onFailed: ((appId: string) => void) | undefined;

  /**
   * Starts an ended app again on the same id with another jar and config (`sluice update`,
   * `sluice rollback`): a fresh restart budget, an epoch above `minEpoch` (the caller fenced
   * the app's stores there), the version record in the seed.
   */
  async relaunch(appId: string, next: { jar: string; sha256: string; config: Record<string, unknown>; versions: AppVersions; minEpoch: number }): Promise<Record<string, unknown>> {
    const entry = this.#entry(appId);
    const config = this.#validateConfig(next.config);
    return this.#run(entry, async () => {
      if (entry.seed.status === 'running') throw new EngineError('APP_STATE', `app ${appId} is running: it must stop before it restarts with another version`);
      const app = await this.#appStorage(appId);
      if (!app) throw new EngineError('APP_NOT_FOUND', `app ${appId} has no store`);
      await app.config.set(APP_CONFIG_ID, config);
      await app.updateMeta({ status: 'running', jar: next.jar });
      const { error: _e, nextAttemptAt: _n, ...rest } = entry.seed;
      await this.#write(entry, { ...rest, status: 'running', jar: next.jar, sha256: next.sha256, epoch: Math.max(rest.epoch, next.minEpoch), recentRestarts: [], versions: next.versions });
      entry.config = config;
      entry.am = undefined;
      entry.exits = [];
      entry.placed = undefined;
      entry.lastRestart = undefined;
      await this.#ensureAppMaster(entry);
      return this.describe(entry);
    });
  }

  #monitor(): void {
    if (!this.#leading) return;
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

  #hosted(appId: string, amEpoch: number | undefined): boolean {
    for (const w of this.#workers.values()) {
      if (w.executors.some((e) => e.appId === appId && e.role === 'appmaster' && (amEpoch === undefined || e.epoch === amEpoch))) return true;
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
    // A replaced AppMaster is expected to exit; one not yet adopted counts if it is the newest.
    if (!am || (am.amEpoch === undefined ? e.epoch < entry.seed.epoch : e.epoch !== am.amEpoch)) return;
    if (am.amEpoch === undefined) am.amEpoch = e.epoch;
    const how = e.signal ? `signal ${e.signal}` : `code ${e.code}`;
    void this.#run(entry, () => this.#amLost(entry, e.epoch, `AppMaster (epoch ${e.epoch}) exited with ${how}`)).catch((err: unknown) =>
      this.opts.logger.error({ appId: e.appId, err }, 'handling an AppMaster exit failed'),
    );
  }

  /** An AppMaster call must come from the current AppMaster at the current epoch. */
  #checkAm(entry: AppEntry, body: { epoch: number; amEpoch: number }): void {
    const { seed } = entry;
    if (seed.status !== 'running') throw new EngineError('APP_STATE', `app ${seed.appId} is ${seed.status}`);
    if (body.epoch !== seed.epoch) throw new EngineError('APP_STATE', `epoch ${body.epoch} is fenced by ${seed.epoch}`);
    this.#adopt(entry, body.amEpoch);
    if (entry.am && body.amEpoch !== entry.am.amEpoch) throw new EngineError('APP_STATE', `AppMaster of epoch ${body.amEpoch} is replaced by epoch ${entry.am.amEpoch}`);
  }

  /** After a reload the AppMaster at the seed's epoch is the current one: learn its identity. */
  #adopt(entry: AppEntry, amEpoch: number): void {
    if (!entry.am) entry.am = { amEpoch, launchedAt: Date.now(), lastSeen: Date.now(), started: true };
    else if (entry.am.amEpoch === undefined) entry.am.amEpoch = amEpoch;
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

  async submit(name: string, body: AsyncIterable<Uint8Array>, size: number | undefined, rawConfig: unknown, owner: string, acl: string[] = []): Promise<{ appId: string; sha256: string; size: number }> {
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
      const seed: AppSeed = { appId, name, owner, acl, status: 'running', epoch: 0, jar: JAR_NAME, sha256: info.sha256, createdAt: now, updatedAt: now, restarts: 0, recentRestarts: [] };
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
    const r = new JsonRouter({ auth: this.#authenticate });
    const am = { kind: 'appDaemon', roles: ['appmaster'] } as const;
    const daemonEpoch = (p: Principal, epoch: number): void => {
      if (p.kind === 'appDaemon' && p.epoch !== epoch) throw new EngineError('FORBIDDEN', `token is for epoch ${p.epoch}, request says ${epoch}`);
    };
    registerBlobRoutes(r, { storage: this.opts.storage, authz: () => this.#authz(), logger: this.opts.logger });
    const savepoints: UpdateDeps = {
      storage: this.opts.storage, authz: () => this.#authz(), logger: this.opts.logger,
      app: (id) => this.#entry(id), kill: (id) => this.kill(id),
      submit: (name, body, size, config, owner, acl) => this.submit(name, body, size, config, owner, acl),
      relaunch: (id, next) => this.relaunch(id, next), configOf: (id) => this.#configOf(this.#entry(id)), validateConfig: (c) => this.#validateConfig(c),
      limit: (body) => limitBytes(body, this.opts.maxArtifactBytes ?? 512 * 1024 * 1024),
    };
    registerSavepointRoutes(r, savepoints);
    registerUpdateRoutes(r, savepoints);
    // An updated version that ends failed rolls back to the version it replaced (once).
    this.#onFailed = (id) => void autoRollback(savepoints, id).catch((err: unknown) => this.opts.logger.error({ appId: id, err }, 'automatic rollback failed'));
    r.add('GET', '/health', 'public', async () => ({
      ok: true, role: this.role, leader: this.#election ? (this.#election.leader ?? null) : this.address, address: this.address,
      ...(this.#election ? { masters: [...this.#election.candidates] } : {}), workers: this.#workers.size, apps: this.#apps.size, startedAt: this.startedAt, version: ENGINE_VERSION,
    }));
    r.add('GET', '/workers', 'user', async (_req, _p, _u, who) => ({
      workers: [...this.#workers.values()].map((w) => ({
        id: w.id, host: w.host, slots: w.slots, usedSlots: this.#load(w), lastSeen: w.lastSeen, version: w.version, ...(w.standbys ? { standbys: w.standbys } : {}),
        // Only the executors of apps the caller may read.
        executors: w.executors.filter((e) => {
          const entry = this.#apps.get(e.appId);
          return entry !== undefined && authorize(who, { appId: e.appId, owner: entry.seed.owner, acl: entry.seed.acl }, 'r', this.#authz());
        }),
      })),
    }));
    r.add('POST', '/workers/register', 'worker', async (req) => {
      const b = parseBody(workerRegisterSchema, await readJson(req), 'worker registration');
      const id = b.name ?? `worker-${randomBytes(3).toString('hex')}`;
      this.#workers.set(id, { id, host: b.host, slots: b.slots, lastSeen: Date.now(), executors: b.executors, commands: [], launched: [], ...(b.version ? { version: b.version } : {}) });
      this.opts.logger.info({ worker: id, slots: b.slots }, 'worker registered');
      return { workerId: id };
    });
    r.add('POST', '/workers/:id/heartbeat', 'worker', async (req, p) => {
      const b = parseBody(workerHeartbeatSchema, await readJson(req), 'worker heartbeat');
      const w = this.#workers.get(p.id!);
      if (!w) throw new EngineError('APP_NOT_FOUND', `worker ${p.id} is not registered`);
      const now = Date.now();
      w.lastSeen = now;
      w.executors = b.executors;
      if (b.standbys) w.standbys = b.standbys;
      const seen = (l: LaunchedExecutor): boolean =>
        [...b.executors, ...b.exited].some((e) => e.appId === l.appId && e.role === l.role && e.executor === l.executor && e.epoch === l.epoch);
      w.launched = w.launched.filter((l) => !seen(l) && now - l.at < LAUNCH_HOLD_MS);
      for (const e of b.exited) this.#onExited(e);
      const commands = w.commands;
      w.commands = [];
      for (const c of commands) if (c.type === 'launch') w.launched.push({ appId: c.appId, role: c.role, executor: c.executor, epoch: c.epoch, at: now });
      return { commands };
    });
    r.add('POST', '/apps', 'user', async (req, _p, url, who) => {
      const q = parseSubmitQuery(url);
      // The owner is who authenticated, never a header the caller chose.
      const owner = who.kind === 'user' ? who.name : 'sluice';
      await checkAppBlobs(this.opts.storage, who, q.config, this.#authz());
      const config = await checkStartFrom(savepoints, who, q.config);
      return this.submit(q.name, req, contentLength(req), config, owner, q.acl);
    });
    r.add('GET', '/apps', 'user', async (_req, _p, _u, who) => ({
      apps: filterReadable(who, [...this.#apps.values()].map((e) => ({ appId: e.seed.appId, owner: e.seed.owner, acl: e.seed.acl, e })), this.#authz()).map((x) => this.describe(x.e)),
    }));
    r.add('GET', '/apps/:id', 'user', async (_req, p, _u, who) => {
      const entry = this.#entry(p.id!);
      this.#assert(who, entry, 'r');
      return this.describe(entry);
    });
    r.add('DELETE', '/apps/:id', 'user', async (_req, p, _u, who) => {
      this.#assert(who, this.#entry(p.id!), 'a');
      return this.delete(p.id!);
    });
    r.add('POST', '/apps/:id/kill', 'user', async (_req, p, _u, who) => {
      this.#assert(who, this.#entry(p.id!), 'w');
      return this.kill(p.id!);
    });
    r.add('GET', '/apps/:id/acl', 'user', async (_req, p, _u, who) => {
      const entry = this.#entry(p.id!);
      this.#assert(who, entry, 'r');
      return { appId: entry.seed.appId, owner: entry.seed.owner, acl: entry.seed.acl };
    });
    r.add('PUT', '/apps/:id/acl', 'user', async (req, p, _u, who) => {
      const entry = this.#entry(p.id!);
      this.#assert(who, entry, 'a');
      const b = parseBody(aclSetSchema, await readJson(req), 'ACL');
      return this.#run(entry, async () => {
        await this.#write(entry, { ...entry.seed, acl: b.acl });
        this.opts.logger.info({ appId: entry.seed.appId, acl: b.acl, by: who.kind === 'user' ? who.name : who.kind }, 'ACL changed');
        return { appId: entry.seed.appId, owner: entry.seed.owner, acl: entry.seed.acl };
      });
    });
    r.add('POST', '/apps/:id/am/heartbeat', am, async (req, p, _u, who): Promise<AmHeartbeatReply> => {
      const b = parseBody(appMasterStatusSchema, await readJson(req), 'AppMaster heartbeat');
      // The token names the AppMaster's launch epoch: it cannot speak for another one.
      daemonEpoch(who, b.amEpoch);
      const entry = this.#entry(p.id!);
      const { seed } = entry;
      if (seed.status !== 'running') throw new EngineError('APP_STATE', `app ${seed.appId} is ${seed.status}`);
      if (!entry.am || entry.am.amEpoch === undefined) {
        // After a master restart or failover: adopt the AppMaster that runs at the seed's epoch.
        if (b.epoch !== seed.epoch) throw new EngineError('APP_STATE', `epoch ${b.epoch} is fenced by ${seed.epoch}`);
        this.#adopt(entry, b.amEpoch);
      }
      const am = entry.am;
      if (!am || b.amEpoch !== am.amEpoch) throw new EngineError('APP_STATE', `AppMaster of epoch ${b.amEpoch} is replaced by epoch ${am?.amEpoch}`);
      am.lastSeen = Date.now();
      am.started = true;
      // A heartbeat of the current AppMaster sent just before its own epoch bump: not a fence.
      if (b.epoch === seed.epoch) am.status = b;
      return { ok: true, executors: this.#executorReports(entry) };
    });
    // Live blob updates: the AppMaster asks before every switch. The master decides, not the
    // AppMaster: it holds the identities and superusers, and app code runs in the AppMaster's
    // process, so a check there could be skipped by the very app it guards.
    r.add('POST', '/apps/:id/am/blobs-check', am, async (req, p, _u, who) => {
      const b = parseBody(blobsCheckRequestSchema, await readJson(req), 'blobs check');
      daemonEpoch(who, b.amEpoch);
      const { seed } = this.#entry(p.id!);
      const owner: Principal = this.opts.auth ? { kind: 'user', name: seed.owner, admin: false } : AUTH_OFF_PRINCIPAL;
      await assertBlobsReadable(this.opts.storage, owner, b.blobs, this.#authz());
      return { ok: true };
    });
    r.add('POST', '/apps/:id/restart', am, async (req, p, _u, who): Promise<RestartReply> => {
      const b = parseBody(restartRequestSchema, await readJson(req), 'restart request');
      daemonEpoch(who, b.amEpoch);
      const entry = this.#entry(p.id!);
      return this.#run(entry, async () => {
        // The same request again (its reply was lost in transit or a failover): same answer.
        const last = entry.lastRestart;
        if (last && last.fromEpoch === b.epoch && last.amEpoch === b.amEpoch && entry.seed.epoch === last.reply.epoch && entry.seed.status === 'running') return last.reply;
        this.#checkAm(entry, b);
        const r = await this.#recordFailure(entry, b.reason, true, b.progressed);
        if (r.failed) throw new EngineError('APP_STATE', `app ${entry.seed.appId} failed: ${entry.seed.error ?? b.reason}`);
        this.#killEverywhere(entry.seed.appId, { belowEpoch: entry.seed.epoch, role: 'executor' });
        const reply = { epoch: entry.seed.epoch, notBefore: r.notBefore };
        entry.lastRestart = { fromEpoch: b.epoch, amEpoch: b.amEpoch, reply };
        return reply;
      });
    });
    r.add('POST', '/apps/:id/executors', am, async (req, p, _u, who): Promise<ExecutorsReply> => {
      const b = parseBody(executorsRequestSchema, await readJson(req), 'executors request');
      daemonEpoch(who, b.amEpoch);
      const entry = this.#entry(p.id!);
      return this.#run(entry, async () => {
        this.#checkAm(entry, b);
        const { seed } = entry;
        // Placed once per epoch: a retried request must not launch a second set.
        if (entry.placed?.epoch === seed.epoch && entry.placed.reply.placed.length > 0) return entry.placed.reply;
        this.#killEverywhere(seed.appId, { belowEpoch: seed.epoch, role: 'executor' });
        // All or nothing: a partial placement would hold slots other apps may need.
        const free = this.#freeSlots(entry);
        if (free < b.executors.length) {
          entry.waiting = `needs ${b.executors.length} executor slots, ${free} free`;
          return { placed: [], waiting: entry.waiting };
        }
        entry.waiting = undefined;
        const placed: Array<{ executor: number; worker: string }> = [];
        // A recovery puts each executor back on the worker it ran on (its slot is being
        // freed by the kill above): that worker's warm standbys and caches are there for it.
        const before = new Map((entry.placed?.reply.placed ?? []).map((x) => [x.executor, x.worker]));
        const dying = (w: WorkerState): number => w.executors.filter((e) => e.appId === seed.appId && e.role === 'executor' && e.epoch < seed.epoch).length;
        for (const i of b.executors) {
          const prev = this.#workers.get(before.get(i) ?? '');
          const w = prev && this.#load(prev) - dying(prev) < prev.slots ? prev : this.#freeWorkers()[0]!;
          this.#push(w, { type: 'launch', appId: seed.appId, role: 'executor', executor: i, epoch: seed.epoch, jar: seed.jar, sha256: seed.sha256, am: b.am, ...this.#daemonToken('executor', seed.appId, seed.epoch) });
          placed.push({ executor: i, worker: w.id });
        }
        entry.placed = { epoch: seed.epoch, reply: { placed } };
        return { placed };
      });
    });
    r.add('POST', '/apps/:id/finish', am, async (req, p, _u, who) => {
      const b = parseBody(finishRequestSchema, await readJson(req), 'finish request');
      daemonEpoch(who, b.amEpoch);
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

/** The executors an app runs (as its AppMaster computes them from its config). */
function executorsOf(config: Record<string, unknown> | undefined): number {
  const n = Math.floor(Number(config?.executors ?? 2));
  return Number.isFinite(n) && n >= 1 ? n : 2;
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
