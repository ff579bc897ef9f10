import type { Etcd3, IKeyValue } from 'etcd3';
import { validateName } from '@sluice/storage-api';
import { EngineError } from '../errors.js';
import { etcdUnavailable } from './etcd-client.js';
import { parseSeed, seedConflict, type AppSeed, type SeedStore, type VersionedSeed } from './seed-store.js';

/** The writer's election key and its create revision: a write lands only while both still match. */
export interface LeaderFence {
  key: string;
  createRevision: string;
}

/**
 * Who may write. `LeaderElection` implements it: `fence()` is undefined unless this process
 * holds leadership; `fenceLost()` tells it etcd refused its key (it steps down at once).
 */
export interface SeedWriteFence {
  fence(): LeaderFence | undefined;
  /** The current leader's address, for NOT_LEADER's `details.leader`. */
  readonly leader: string | undefined;
  fenceLost(reason: string): void;
}

export interface EtcdSeedStoreOptions {
  /** Shared with the election (same members, same deadlines): see createEtcdClient. */
  client: Etcd3;
  /** The cluster's key prefix, e.g. `/sluice/`; seeds live under `<prefix>apps/`. */
  prefix: string;
  fence: SeedWriteFence;
}

/**
 * Seeds in etcd, one key per app (`<prefix>apps/<appId>`, compact JSON). Every write is one
 * transaction comparing the seed key's mod revision (create: the key is absent) AND the
 * writer's election key's create revision, so a lost race is SEED_CONFLICT and a deposed
 * leader (its lease expired while it slept) is refused with NOT_LEADER: nothing it writes
 * lands. The revision handed out is etcd's mod revision of the key.
 *
 * An etcd call that fails or passes its deadline is SEED_STORE_UNAVAILABLE. The client retries
 * only failures etcd3 marks recoverable; a retried write whose first attempt did land reports
 * SEED_CONFLICT (the key moved): the caller re-reads and decides again, so an epoch can be
 * skipped but never issued twice.
 */
export class EtcdSeedStore implements SeedStore {
  readonly #client: Etcd3;
  readonly #fence: SeedWriteFence;
  readonly appsPrefix: string;

  constructor(opts: EtcdSeedStoreOptions) {
    this.#client = opts.client;
    this.#fence = opts.fence;
    this.appsPrefix = `${opts.prefix}apps/`;
  }

  /** The key of one app's seed; the id is validated before it becomes part of a key. */
  keyOf(appId: string): string {
    try {
      validateName('appId', appId);
    } catch (err) {
      throw new EngineError('BAD_REQUEST', (err as Error).message);
    }
    return this.appsPrefix + appId;
  }

  /** Bytes one seed occupies as an etcd value (what `etcd holds seeds only` costs per app). */
  static valueBytes(seed: AppSeed): number {
    return Buffer.byteLength(JSON.stringify(seed));
  }

  async load(): Promise<VersionedSeed[]> {
    let kvs: IKeyValue[];
    try {
      kvs = (await this.#client.getAll().prefix(this.appsPrefix).exec()).kvs;
    } catch (err) {
      throw etcdUnavailable(`load of ${this.appsPrefix}`, err);
    }
    return kvs.map((kv) => this.#decode(kv));
  }

  /** One seed with its revision, or undefined. */
  async get(appId: string): Promise<VersionedSeed | undefined> {
    const key = this.keyOf(appId);
    let kvs: IKeyValue[];
    try {
      kvs = (await this.#client.get(key).exec()).kvs;
    } catch (err) {
      throw etcdUnavailable(`read of ${key}`, err);
    }
    return kvs[0] ? this.#decode(kvs[0]) : undefined;
  }

  async create(seed: AppSeed): Promise<string> {
    const key = this.keyOf(seed.appId);
    return this.#write(seed.appId, key, 'none', this.#client.put(key).value(JSON.stringify(seed)));
  }

  async update(seed: AppSeed, rev: string): Promise<string> {
    const key = this.keyOf(seed.appId);
    return this.#write(seed.appId, key, rev, this.#client.put(key).value(JSON.stringify(seed)));
  }

  async delete(appId: string, rev: string): Promise<void> {
    const key = this.keyOf(appId);
    await this.#write(appId, key, rev, this.#client.delete().key(key));
  }

  /** The client belongs to whoever created it (it is shared with the election). */
  async close(): Promise<void> {}

  #decode(kv: IKeyValue): VersionedSeed {
    const key = kv.key.toString();
    let raw: unknown;
    try {
      raw = JSON.parse(kv.value.toString('utf8'));
    } catch (err) {
      throw new EngineError('SEED_CORRUPT', `seed ${key} is not valid JSON: ${(err as Error).message}`);
    }
    const seed = parseSeed(raw, key);
    if (this.appsPrefix + seed.appId !== key) {
      throw new EngineError('SEED_CORRUPT', `seed ${key} names another app (appId ${JSON.stringify(seed.appId)})`);
    }
    return { seed, rev: String(kv.mod_revision) };
  }

  async #write(appId: string, key: string, rev: string /* a mod revision, or 'none' */, op: Parameters<ReturnType<Etcd3['if']>['then']>[0]): Promise<string> {
    const fence = this.#fence.fence();
    if (!fence) throw this.#notLeader(`not the leader: seed ${appId} not written`);
    // Compare and write in ONE transaction: a check in JavaScript before the write would let
    // a leader that slept past its lease write after waking (timers fire before `lost`).
    const txn = (rev === 'none' ? this.#client.if(key, 'Create', '==', 0) : this.#client.if(key, 'Mod', '==', rev))
      .and(fence.key, 'Create', '==', fence.createRevision)
      .then(op)
      .else(this.#client.get(key), this.#client.get(fence.key));
    let res: Awaited<ReturnType<typeof txn.commit>>;
    try {
      res = await txn.commit();
    } catch (err) {
      throw etcdUnavailable(`write of ${key}`, err);
    }
    if (res.succeeded) return String(res.header.revision);
    const seedKv = res.responses[0]?.response_range?.kvs?.[0];
    const fenceKv = res.responses[1]?.response_range?.kvs?.[0];
    if (!fenceKv || String(fenceKv.create_revision) !== fence.createRevision) {
      const reason = `election key ${fence.key} (create revision ${fence.createRevision}) is gone: leadership lost`;
      this.#fence.fenceLost(reason);
      throw this.#notLeader(`${reason}; seed ${appId} not written`);
    }
    throw seedConflict(appId, rev, seedKv ? String(seedKv.mod_revision) : undefined);
  }

  #notLeader(message: string): EngineError {
    const leader = this.#fence.leader;
    return new EngineError('NOT_LEADER', message, leader ? { details: { leader } } : {});
  }
}
