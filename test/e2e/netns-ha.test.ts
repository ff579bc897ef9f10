// Master HA across network-namespace hosts: three master hosts (each a master and an etcd
// member), two worker hosts, the store and the CLI on their own. Isolating the leader's host
// must give a new leader within the lease, the app must keep running (a failover restarts no
// app), and once the link heals there is still exactly one leader and the output is exact.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { referenceCount, useAdminToken, waitFor, WORD_COUNT, writeWords, type TestJson } from './helpers/engine-cluster.js';
import { NetCluster } from './helpers/netns-cluster.js';
import { netnsLeg } from '../servers/netns.js';
import { etcdLeg } from '../servers/etcd.js';

const leg = netnsLeg();
const etcd = etcdLeg();

if (!leg.run || !etcd.run) {
  const reason = !leg.run ? leg.reason : !etcd.run ? etcd.reason : '';
  const required = (!leg.run && leg.required) || (!etcd.run && etcd.required);
  if (required) describe('network-namespace HA leg', () => it('has namespaces and etcd', () => expect.fail(reason)));
  else describe.skip(reason, () => it('needs network namespaces and etcd', () => undefined));
} else {
  describe('master HA across hosts (3 master+etcd hosts, 2 workers, store, client)', () => {
    let dir: string;
    let c: NetCluster;
    let failed = false;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-netns-ha-'));
      c = NetCluster.create(dir, { workers: ['w1', 'w2'], masters: 3 });
      try {
        await c.start();
        await waitFor('a leader', 30_000, () => c.leader(), 300);
        await useAdminToken(dir);
        await c.startWorkers();
      } catch (err) {
        process.stderr.write(c.logs());
        throw err;
      }
    }, 180_000);

    afterAll(async () => {
      if (failed && c) process.stderr.write(c.logs());
      await c?.close();
      if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    it('elects a new leader when the leader host is isolated; the app runs on, exact', async () => {
      try {
        const input = join(dir, 'words.txt');
        writeWords(input, 30_000, 5);
        const output = join(dir, 'out');
        const sub = await c.cli(['submit', WORD_COUNT, '--master', c.master, '--json', '--config', `input=${input}`, '--config', `output=${output}`,
          '--config', 'executors=2', '--config', 'checkpointIntervalMs=300', '--config', 'linesPerSec=2500']);
        expect(sub.code, sub.stderr).toBe(0);
        const appId = (JSON.parse(sub.stdout) as { appId: string }).appId;
        const before = await waitFor('the app running with a checkpoint', 60_000, async () => {
          const a = await c.status(appId);
          return a.appMaster?.phase === 'running' && (a.appMaster?.committed ?? -1) > 0 ? a : undefined;
        }, 500);

        const old = (await c.leader())!;
        expect(old).toBeDefined();
        c.net.isolate(old);
        const next = await waitFor('a new leader on another host', 30_000, async () => {
          const l = await c.leader();
          return l && l !== old ? l : undefined;
        }, 200);
        expect(next).not.toBe(old);

        // The app keeps going through the new leader: more checkpoints, the same epoch.
        const after = await waitFor('a checkpoint through the new leader', 60_000, async () => {
          const a = await c.status(appId);
          return a.status === 'stopped' || (a.appMaster?.committed ?? -1) > before.appMaster.committed ? a : undefined;
        }, 500);
        expect(after.epoch, 'a failover restarts no app').toBe(before.epoch);

        c.net.heal(old);
        // Healed: the old leader rejoins as a follower; one leader for the whole cluster.
        const roles = await waitFor('the old leader back as a follower', 30_000, async () => {
          const r = await c.cli(['masters', '-c', 'cluster.yaml', '--json'], 20_000);
          if (r.code !== 0) return undefined;
          const ms = (JSON.parse(r.stdout) as { masters: Array<{ url: string; reachable: boolean; role?: string }> }).masters;
          return ms.every((m) => m.reachable) ? ms : undefined;
        }, 500);
        expect(roles.filter((m) => m.role === 'leader')).toHaveLength(1);
        expect(roles.find((m) => m.url.includes(c.addr(old)))?.role).not.toBe('leader');

        const end: TestJson = await waitFor('the app to end', 120_000, async () => {
          const a = await c.status(appId);
          return ['running', 'pending'].includes(a.status) ? undefined : a;
        }, 700);
        expect(end.status, JSON.stringify(end)).toBe('stopped');
        expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
      } catch (err) {
        failed = true;
        throw err;
      }
    }, 300_000);
  });
}
