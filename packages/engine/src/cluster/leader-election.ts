import { EventEmitter } from 'node:events';
import type { Etcd3, IKeyValue, Lease, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { LeaderFence, SeedWriteFence } from './etcd-seed-store.js';

export type MasterRole = 'leader' | 'follower';

export interface LeadershipChange {
  role: MasterRole;
  /** The leader's address (this master's own when role is leader); undefined while there is none. */
  leader: string | undefined;
}

export interface LeaderElectionOptions {
  client: Etcd3;
  /** The cluster's key prefix; candidates live under `<prefix>election/`. */
  prefix: string;
  /** What this master campaigns with: its base URL, which followers hand out as the leader. */
  address: string;
  /** Lease TTL; a dead leader is replaced this long after its last renewal. Whole seconds. */
  leaseTtlMs: number;
  logger: Logger;
}

/** Re-campaign back-off after a lost lease or an unreachable etcd: bounded, doubling. */
const RECAMPAIGN_MIN_MS = 100;
const RECAMPAIGN_MAX_MS = 2000;
/** Bound on the candidates read per lookup: far more masters than any cluster runs. */
const MAX_CANDIDATES = 64;

/**
 * Owns this master's campaign in an etcd election (the etcd concurrency recipe: a key per
 * candidate under `<prefix>election/`, bound to the candidate's lease; the oldest key leads).
 * Exposes the role, the leader's address, a `change` event, and the fence (election key +
 * create revision) that `EtcdSeedStore` puts in every write's compare.
 *
 * It steps down (emits `change` with role follower) as soon as it cannot vouch for its lease:
 * etcd reports it lost, no renewal succeeded for a whole TTL (a SIGSTOPped process wakes
 * with stale timers; a partitioned one cannot renew), or a fenced write was refused. Then it
 * campaigns again with a fresh lease, with back-off, until `stop()`.
 */
export class LeaderElection extends EventEmitter implements SeedWriteFence {
  readonly #opts: LeaderElectionOptions;
  readonly #log: Logger;
  readonly #candidates: string;
  #role: MasterRole = 'follower';
  #leader: string | undefined;
  #fence: LeaderFence | undefined;
  #lease: Lease | undefined;
  #lastRenewal = 0;
  #generation = 0;
  #stopped = true;
  #retryDelay = RECAMPAIGN_MIN_MS;
  #watchdog: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #observer: Watcher | undefined;
  #observeTimer: NodeJS.Timeout | undefined;
  #observedRevision = -1n;
  #candidateAddresses: string[] = [];
  #waiter: Watcher | undefined;

  constructor(opts: LeaderElectionOptions) {
    super();
    if (opts.leaseTtlMs < 1000 || opts.leaseTtlMs % 1000 !== 0) throw new TypeError(`leaseTtlMs must be whole seconds ≥ 1000, got ${opts.leaseTtlMs}`);
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'leader-election' });
    this.#candidates = `${opts.prefix}election/`;
  }

  get role(): MasterRole {
    return this.#role;
  }
  get leader(): string | undefined {
    return this.#role === 'leader' ? this.#opts.address : this.#leader;
  }
  get address(): string {
    return this.#opts.address;
  }
  /** Every master campaigning now (its address), the leader first; as last observed in etcd. */
  get candidates(): readonly string[] {
    return this.#candidateAddresses;
  }
  /** The fence for seed writes; undefined unless this master leads. */
  fence(): LeaderFence | undefined {
    return this.#role === 'leader' ? this.#fence : undefined;
  }

  override on(event: 'change', listener: (change: LeadershipChange) => void): this;
  override on(event: string, listener: (change: LeadershipChange) => void): this {
    return super.on(event, listener);
  }

  async start(): Promise<void> {
    if (!this.#stopped) return;
    this.#stopped = false;
    await this.#observe();
    this.#watchdog = setInterval(() => this.#checkRenewal(), Math.max(100, this.#opts.leaseTtlMs / 8));
    this.#watchdog.unref();
    void this.#campaign();
  }

  /** Resolves when this master leads (or rejects after timeoutMs). */
  async waitForLeadership(timeoutMs: number): Promise<void> {
    if (this.#role === 'leader') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('change', onChange);
        reject(new Error(`not elected within ${timeoutMs} ms`));
      }, timeoutMs);
      const onChange = (c: LeadershipChange): void => {
        if (c.role !== 'leader') return;
        clearTimeout(timer);
        this.off('change', onChange);
        resolve();
      };
      this.on('change', onChange);
    });
  }

  /** Called by the seed store when etcd refused this master's election key. */
  fenceLost(reason: string): void {
    if (this.#role === 'leader') this.#stepDown(reason);
  }

  /** Resigns (revokes the lease, so a successor is elected at once) and stops campaigning. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#generation++;
    clearInterval(this.#watchdog);
    clearInterval(this.#observeTimer);
    clearTimeout(this.#retryTimer);
    const lease = this.#lease;
    this.#lease = undefined;
    const bound = this.#opts.leaseTtlMs;
    await Promise.all([bounded(this.#observer?.cancel(), bound, 'observer cancel', this.#log), bounded(this.#waiter?.cancel(), bound, 'waiter cancel', this.#log)]);
    if (this.#role === 'leader') this.#setRole('follower', undefined);
    this.#fence = undefined;
    if (lease) await bounded(lease.revoke(), bound, 'lease revoke', this.#log);
  }

  async #campaign(): Promise<void> {
    const gen = ++this.#generation;
    const { client, leaseTtlMs, address } = this.#opts;
    const lease = client.lease(leaseTtlMs / 1000);
    this.#lease = lease;
    lease.on('lost', (err: Error) => {
      if (gen !== this.#generation) return;
      this.#retry(`lease lost: ${err.message}`);
    });
    lease.on('keepaliveSucceeded', () => {
      if (gen === this.#generation) this.#lastRenewal = Date.now();
    });
    try {
      const id = await lease.grant();
      this.#lastRenewal = Date.now();
      const key = `${this.#candidates}${BigInt(id).toString(16)}`;
      const put = await client.if(key, 'Create', '==', 0).then(client.put(key).value(address).lease(id)).commit();
      if (gen !== this.#generation) return;
      if (!put.succeeded) throw new Error(`candidate key ${key} already exists`);
      const createRevision = String(put.header.revision);
      await this.#waitUntilOldest(createRevision, gen);
      if (gen !== this.#generation) return;
      this.#fence = { key, createRevision };
      this.#retryDelay = RECAMPAIGN_MIN_MS;
      this.#setRole('leader', address);
      this.#log.info({ key, createRevision }, 'elected leader');
    } catch (err) {
      if (gen === this.#generation) this.#retry(`campaign failed: ${(err as Error).message}`);
    }
  }

  /** The etcd recipe: wait until every candidate created before us is gone. */
  async #waitUntilOldest(createRevision: string, gen: number): Promise<void> {
    const { client } = this.#opts;
    for (;;) {
      const older = await client.getAll().prefix(this.#candidates).maxCreateRevision(String(BigInt(createRevision) - 1n)).sort('Create', 'Descend').limit(1).exec();
      if (gen !== this.#generation) return;
      const prev = older.kvs[0];
      if (!prev) return;
      // watch the candidate just before us; when it goes, look again
      const watcher = await client.watch().key(prev.key).startRevision(String(BigInt(older.header.revision) + 1n)).only('delete').create();
      this.#waiter = watcher;
      await new Promise<void>((resolve, reject) => {
        // our own lease may die while we wait (#retry bumps the generation): stop waiting then.
        // A watch event can be lost while the client's shared watch stream is re-created (other
        // watchers cancelling): re-read the older key a few times per lease as a safety net.
        const pollEvery = Math.max(1, Math.floor(this.#opts.leaseTtlMs / 4 / 200));
        let ticks = 0;
        let polling = false;
        const check = setInterval(() => {
          if (gen !== this.#generation) return done();
          if (++ticks % pollEvery !== 0 || polling) return;
          polling = true;
          client
            .get(prev.key.toString())
            .exists()
            .then((exists) => {
              if (!exists) done();
            })
            .catch(() => undefined)
            .finally(() => (polling = false));
        }, 200);
        const done = (): void => {
          clearInterval(check);
          resolve();
        };
        watcher.once('delete', done);
        watcher.once('end', done);
        watcher.once('error', (err: Error) => {
          clearInterval(check);
          reject(err);
        });
      }).finally(() => {
        // never awaited: cancelling a watch whose stream is reconnecting can take long
        if (this.#waiter === watcher) this.#waiter = undefined;
        void watcher.cancel().catch(() => undefined);
      });
      if (gen !== this.#generation) return;
    }
  }

  /** A lease not renewed for a whole TTL may already be expired in etcd: do not act as leader on it. */
  #checkRenewal(): void {
    if (this.#role !== 'leader') return;
    const age = Date.now() - this.#lastRenewal;
    if (age >= this.#opts.leaseTtlMs) this.#retry(`lease not renewed for ${age} ms (TTL ${this.#opts.leaseTtlMs} ms)`);
  }

  #stepDown(reason: string): void {
    this.#log.warn({ reason }, 'stepping down');
    this.#retry(reason);
  }

  /** Abandons the current campaign (revoking its lease) and starts a new one after a back-off. */
  #retry(reason: string): void {
    if (this.#stopped) return;
    const gen = ++this.#generation;
    const lease = this.#lease;
    this.#lease = undefined;
    this.#fence = undefined;
    if (this.#role === 'leader') {
      this.#log.warn({ reason }, 'lost leadership');
      this.#setRole('follower', undefined);
    } else {
      this.#log.info({ reason }, 'campaign restarting');
    }
    void this.#waiter?.cancel().catch(() => undefined);
    this.#waiter = undefined;
    if (lease) void lease.revoke().catch(() => undefined);
    const delay = this.#retryDelay;
    this.#retryDelay = Math.min(RECAMPAIGN_MAX_MS, this.#retryDelay * 2);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (!this.#stopped && gen === this.#generation) void this.#campaign();
    }, delay);
  }

  /** Tracks the leader (the oldest candidate key) with a watch on the candidates' prefix. */
  async #observe(): Promise<void> {
    const { client } = this.#opts;
    const refresh = async (): Promise<void> => {
      try {
        // Every candidate (one small key per master), oldest first: the first leads.
        const all = await client.getAll().prefix(this.#candidates).sort('Create', 'Ascend').limit(MAX_CANDIDATES).exec();
        // Lookups overlap (one per watch event): an older answer landing late must not win.
        const rev = BigInt(all.header.revision);
        if (rev < this.#observedRevision) return;
        this.#observedRevision = rev;
        this.#candidateAddresses = [...new Set(all.kvs.map((kv) => kv.value.toString()))];
        this.#observed(all.kvs[0]);
      } catch (err) {
        this.#log.debug({ err: (err as Error).message }, 'leader lookup failed');
      }
    };
    const watcher = await client.watch().prefix(this.#candidates).create();
    this.#observer = watcher;
    watcher.on('put', () => void refresh());
    watcher.on('delete', () => void refresh());
    // after an etcd outage the stream reconnects; what changed meanwhile is re-read
    watcher.on('connected', () => void refresh());
    watcher.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'leader watch failed'));
    // A safety net for a missed event: followers re-read the leader once per lease period.
    this.#observeTimer = setInterval(() => void refresh(), this.#opts.leaseTtlMs);
    this.#observeTimer.unref();
    await refresh();
  }

  #observed(kv: IKeyValue | undefined): void {
    const value = kv?.value.toString();
    if (value === this.#leader) return;
    this.#leader = value;
    // as leader, we announce our own changes; as follower, the observed leader is the news
    if (this.#role === 'follower') this.emit('change', { role: 'follower', leader: value } satisfies LeadershipChange);
  }

  #setRole(role: MasterRole, leader: string | undefined): void {
    this.#role = role;
    if (leader !== undefined) this.#leader = leader;
    this.emit('change', { role, leader: this.leader } satisfies LeadershipChange);
  }
}

/** Waits for a clean-up step at most `ms`: a stop must not hang on an unreachable etcd. */
async function bounded(p: Promise<unknown> | undefined, ms: number, what: string, log: Logger): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const r = await Promise.race([p.then(() => 'ok' as const, () => 'failed' as const), timedOut]);
  clearTimeout(timer);
  if (r !== 'ok') log.warn({ step: what, outcome: r, ms }, 'stop step did not complete');
}
