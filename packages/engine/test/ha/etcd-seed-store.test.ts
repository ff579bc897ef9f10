// EtcdSeedStore against a real three-member etcd (our launcher): typed CAS conflicts, seeds
// validated on load, the concurrent epoch-bump race, one member killed, all of etcd down
// (typed, bounded) and back. The deposed-writer case is in leader-election.test.ts.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient, EtcdSeedStore, LeaderElection, type AppSeed } from '@sluice/engine';
import { etcdLeg, startEtcdCluster, type EtcdClusterHandle } from '../../../../test/servers/etcd.js';

const log = pino({ level: process.env.SLUICE_TEST_LOG ?? 'warn' }, pino.destination(2));
const REQUEST_TIMEOUT_MS = 1000;
const LEASE_TTL_MS = 2000;

function seedOf(appId: string, epoch = 0): AppSeed {
  const now = Date.now();
  return { appId, name: 'wc', status: 'running', epoch, jar: 'app.jar', sha256: 'a'.repeat(64), owner: 'sluice', createdAt: now, updatedAt: now, restarts: 0, recentRestarts: [], acl: [] };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

const leg = etcdLeg();
if (!leg.run) {
  if (leg.required) describe('etcd leg (SLUICE_REQUIRE_ETCD=1)', () => it('has etcd installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs etcd', () => undefined));
} else {
  describe('EtcdSeedStore on a 3-member etcd', () => {
    let etcd: EtcdClusterHandle;
    let client: Etcd3;
    let election: LeaderElection;
    let store: EtcdSeedStore;
    const prefix = '/sluice-test/';

    beforeAll(async () => {
      etcd = await startEtcdCluster();
      client = createEtcdClient({ endpoints: etcd.endpoints, requestTimeoutMs: REQUEST_TIMEOUT_MS });
      election = new LeaderElection({ client, prefix, address: 'http://127.0.0.1:1', leaseTtlMs: LEASE_TTL_MS, logger: log });
      await election.start();
      await election.waitForLeadership(10_000);
      store = new EtcdSeedStore({ client, prefix, fence: election });
    });
    afterAll(async () => {
      await election?.stop();
      client?.close();
      await etcd?.close();
    });

    it('creates, updates and deletes by compare-and-set; every lost race is SEED_CONFLICT', async () => {
      const s = seedOf('cas-1');
      const r1 = await store.create(s);
      expect(await codeOf(store.create(s))).toBe('SEED_CONFLICT');
      const r2 = await store.update({ ...s, epoch: 1 }, r1);
      expect(BigInt(r2)).toBeGreaterThan(BigInt(r1));
      // a writer still holding r1 lost the race: refused, and its value did not land
      expect(await codeOf(store.update({ ...s, epoch: 99 }, r1))).toBe('SEED_CONFLICT');
      expect((await store.get('cas-1'))?.seed.epoch).toBe(1);
      expect(await codeOf(store.delete('cas-1', r1))).toBe('SEED_CONFLICT');
      await store.delete('cas-1', r2);
      expect(await store.get('cas-1')).toBeUndefined();
      expect(await codeOf(store.update(s, r2))).toBe('SEED_CONFLICT');
    });

    it('load() returns every seed with its revision; the revision is the one update() compares', async () => {
      const r = await store.create(seedOf('load-1', 3));
      const all = await store.load();
      const mine = all.find((v) => v.seed.appId === 'load-1');
      expect(mine).toEqual({ seed: expect.objectContaining({ appId: 'load-1', epoch: 3 }), rev: r });
      await store.update({ ...mine!.seed, epoch: 4 }, mine!.rev);
    });

    it('validates seeds on load: a malformed one is SEED_CORRUPT naming its key', async () => {
      const other = new EtcdSeedStore({ client, prefix: '/sluice-corrupt/', fence: election });
      await client.put('/sluice-corrupt/apps/bad-json').value('{not json');
      await expect(other.load()).rejects.toMatchObject({ code: 'SEED_CORRUPT', message: expect.stringContaining('/sluice-corrupt/apps/bad-json') });
      await client.delete().key('/sluice-corrupt/apps/bad-json');
      await client.put('/sluice-corrupt/apps/bad-epoch').value(JSON.stringify({ ...seedOf('bad-epoch'), epoch: -1 }));
      await expect(other.load()).rejects.toMatchObject({ code: 'SEED_CORRUPT', message: expect.stringMatching(/\/sluice-corrupt\/apps\/bad-epoch.*epoch/) });
      await client.delete().key('/sluice-corrupt/apps/bad-epoch');
      await client.put('/sluice-corrupt/apps/x').value(JSON.stringify(seedOf('y')));
      await expect(other.load()).rejects.toMatchObject({ code: 'SEED_CORRUPT', message: expect.stringContaining('names another app') });
      await client.delete().prefix('/sluice-corrupt/');
    });

    it('validates the app id before it becomes a key', async () => {
      for (const id of ['../x', 'a/b', '', 'x'.repeat(300)]) {
        expect(await codeOf(store.create(seedOf(id)))).toBe('BAD_REQUEST');
      }
      expect((await client.getAll().prefix(`${prefix}apps/.`).keys()).length).toBe(0);
    });

    it('refuses writes with NOT_LEADER when this process does not lead', async () => {
      const follower = new EtcdSeedStore({ client, prefix, fence: { fence: () => undefined, leader: 'http://127.0.0.1:9', fenceLost: () => undefined } });
      await expect(follower.create(seedOf('nl-1'))).rejects.toMatchObject({ code: 'NOT_LEADER', details: { leader: 'http://127.0.0.1:9' } });
      expect(await store.get('nl-1')).toBeUndefined();
    });

    it('concurrent epoch bumps from 6 clients: every epoch is issued exactly once, none lost', async () => {
      const appId = 'race-1';
      await store.create(seedOf(appId, 0));
      const BUMPS = 150;
      const CLIENTS = 6;
      const MAX_TRIES = 10_000; // bound on the loop; a live-lock would fail the test, not hang it
      const issued: number[] = [];
      let conflicts = 0;
      const clients = Array.from({ length: CLIENTS }, () => createEtcdClient({ endpoints: etcd.endpoints, requestTimeoutMs: REQUEST_TIMEOUT_MS }));
      try {
        let tries = 0;
        await Promise.all(
          clients.map(async (c) => {
            const s = new EtcdSeedStore({ client: c, prefix, fence: election });
            while (issued.length < BUMPS && tries++ < MAX_TRIES) {
              const cur = (await s.get(appId))!;
              const next = cur.seed.epoch + 1;
              if (next > BUMPS) break;
              try {
                await s.update({ ...cur.seed, epoch: next, updatedAt: Date.now() }, cur.rev);
                issued.push(next);
              } catch (err) {
                if ((err as { code?: string }).code !== 'SEED_CONFLICT') throw err;
                conflicts++;
              }
            }
          }),
        );
      } finally {
        for (const c of clients) c.close();
      }
      expect(conflicts).toBeGreaterThan(0); // the race really happened
      expect([...issued].sort((a, b) => a - b)).toEqual(Array.from({ length: BUMPS }, (_, i) => i + 1));
      expect((await store.get(appId))!.seed.epoch).toBe(BUMPS);
    });

    it('one member of three killed: reads, writes and leadership carry on; it rejoins', async () => {
      const changes: string[] = [];
      const onChange = (c: { role: string }): void => void changes.push(c.role);
      election.on('change', onChange);
      const rev = await store.create(seedOf('member-1'));
      await etcd.kill(0);
      let r = rev;
      const t0 = Date.now();
      for (let i = 1; i <= 20; i++) r = await store.update(seedOf('member-1', i), r);
      const writesMs = Date.now() - t0;
      expect((await store.get('member-1'))!.seed.epoch).toBe(20);
      // 20 writes with a member down: each within its deadline, no retries storm
      expect(writesMs).toBeLessThan(20 * REQUEST_TIMEOUT_MS);
      await new Promise((res) => setTimeout(res, LEASE_TTL_MS)); // a full TTL: the lease keeps renewing
      expect(election.role).toBe('leader');
      expect(changes).toEqual([]);
      await etcd.startMember(0);
      await etcd.waitHealthy(15_000);
      election.off('change', onChange);
    });

    it('all of etcd stopped: writes fail SEED_STORE_UNAVAILABLE within a bound; restarted, writes work again', async () => {
      const rev = await store.create(seedOf('outage-1'));
      await etcd.killAll();
      const t0 = Date.now();
      const err = await store.update(seedOf('outage-1', 1), rev).catch((e: unknown) => e);
      const failedMs = Date.now() - t0;
      // NOT_LEADER is also a correct refusal if the watchdog already stepped down; both are typed
      expect(['SEED_STORE_UNAVAILABLE', 'NOT_LEADER']).toContain((err as { code?: string }).code);
      // bound: one deadline per attempt (3 attempts) plus back-off
      expect(failedMs).toBeLessThan(3 * REQUEST_TIMEOUT_MS + 2000);
      expect(await codeOf(store.load())).toBe('SEED_STORE_UNAVAILABLE');
      // lose the lease for sure (TTL passes while etcd is down), then bring etcd back
      await new Promise((res) => setTimeout(res, LEASE_TTL_MS + 500));
      expect(election.role).toBe('follower');
      await etcd.startAll();
      await etcd.waitHealthy(15_000);
      await election.waitForLeadership(15_000);
      const cur = (await store.get('outage-1'))!;
      expect(cur.seed.epoch).toBe(0); // the refused write did not land
      await store.update({ ...cur.seed, epoch: 1 }, cur.rev);
      expect((await store.get('outage-1'))!.seed.epoch).toBe(1);
    });

    it('measures bytes per app seed', () => {
      const bytes = EtcdSeedStore.valueBytes({ ...seedOf('wordcount-m3x9k2ab12'), restarts: 3, recentRestarts: [Date.now(), Date.now()], lastFailure: { reason: 'executor 2 exited with code 1', at: Date.now(), epoch: 4 } });
      process.stderr.write(`seed bytes per app (value): ${bytes}\n`);
      expect(bytes).toBeLessThan(1024);
    });
  });
}
