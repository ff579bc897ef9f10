// Many hosts for real: Sluice across Linux network namespaces (test/servers/netns.ts). The store
// (our WebHDFS server), the master, three workers and the CLI each sit on their own host with
// their own address; partitions take a host's switch port down. Every case runs a word count
// and checks the committed output equals the reference exactly.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { referenceCount, useAdminToken, waitFor, WORD_COUNT, writeWords, type TestJson } from './helpers/engine-cluster.js';
import { NetCluster } from './helpers/netns-cluster.js';
import { netnsLeg } from '../servers/netns.js';

const leg = netnsLeg();

interface ExecutorView {
  role: string;
  worker: string;
  pid: number;
  epoch: number;
}

if (!leg.run) {
  if (leg.required) describe('network-namespace leg (SLUICE_REQUIRE_NETNS=1)', () => it('can create network namespaces', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs network namespaces', () => undefined));
} else {
  describe('a cluster across network-namespace hosts (store, master, 3 workers, client)', () => {
    let dir: string;
    let c: NetCluster;
    let failed = false;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-netns-'));
      c = NetCluster.create(dir, { workers: ['w1', 'w2', 'w3'] });
      try {
        await c.start();
        await useAdminToken(dir);
        await c.startWorkers();
      } catch (err) {
        process.stderr.write(c.logs());
        throw err;
      }
    }, 120_000);

    /** Marks the file failed (daemon logs are printed once, at the end) and rethrows. */
    const tracked = (body: () => Promise<void>) => async (): Promise<void> => {
      try {
        await body();
      } catch (err) {
        failed = true;
        throw err;
      }
    };

    afterAll(async () => {
      if (failed && c) process.stderr.write(c.logs());
      await c?.close();
      if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    const submit = async (name: string, lines: number, linesPerSec: number): Promise<{ appId: string; input: string; output: string }> => {
      const input = join(dir, `${name}.txt`);
      writeWords(input, lines, lines);
      const output = join(dir, `${name}-out`);
      const r = await c.cli(['submit', WORD_COUNT, '--master', c.master, '--json', '--name', name, '--config', `input=${input}`, '--config', `output=${output}`,
        '--config', 'executors=2', '--config', 'checkpointIntervalMs=300', '--config', `linesPerSec=${linesPerSec}`]);
      expect(r.code, r.stderr).toBe(0);
      return { appId: (JSON.parse(r.stdout) as { appId: string }).appId, input, output };
    };

    /** Running, with a first checkpoint committed. */
    const running = (appId: string): Promise<TestJson> =>
      waitFor(`app ${appId} running with a committed checkpoint`, 60_000, async () => {
        const a = await c.status(appId);
        if (!['running', 'pending'].includes(a.status)) throw new Error(`app ended early: ${JSON.stringify(a)}`);
        return a.appMaster?.phase === 'running' && (a.appMaster?.committed ?? -1) > 0 ? a : undefined;
      }, 500);

    /** A checkpoint after `committed` (checkpoint ids are boundary times), or the app done. */
    const progressed = (appId: string, committed: number): Promise<TestJson> =>
      waitFor(`app ${appId} to commit past ${committed}`, 60_000, async () => {
        const a = await c.status(appId);
        return a.status === 'stopped' || (a.appMaster?.committed ?? -1) > committed ? a : undefined;
      }, 500);

    const ended = async (appId: string): Promise<TestJson> => {
      let last: TestJson;
      try {
        return await waitFor(`app ${appId} to end`, 120_000, async () => {
          last = await c.status(appId);
          return ['running', 'pending'].includes(last.status) ? undefined : last;
        }, 700);
      } catch (err) {
        throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last)}`, { cause: err });
      }
    };

    /** The app ends `stopped` and its committed output is exactly the reference count. */
    const endsExact = async (app: { appId: string; input: string; output: string }): Promise<void> => {
      const end = await ended(app.appId);
      expect(end.status, JSON.stringify(end)).toBe('stopped');
      expect(readCommittedOutput(app.output)).toEqual(await referenceCount(readFileSync(app.input, 'utf8')));
    };

    it('runs an app whose executors talk to each other and to the store across hosts', tracked(async () => {
      const app = await submit('spread', 16_000, 4000);
      // Every host that ran one of its executors, sampled until the app ends.
      const hosts = new Set<string>();
      await waitFor(`app ${app.appId} to end`, 120_000, async () => {
        const a = await c.status(app.appId);
        for (const e of a.executors as ExecutorView[]) hosts.add(e.worker);
        return ['running', 'pending'].includes(a.status) ? undefined : a;
      }, 500);
      expect(hosts.size, [...hosts].join(', ')).toBeGreaterThan(1);
      await endsExact(app);
    }), 180_000);

    it('replaces the executors of an isolated worker and fences them when the link heals', tracked(async () => {
      const app = await submit('isolated', 30_000, 2000);
      const a = await running(app.appId);
      // The worker hosting a (non-AppMaster) executor loses its link.
      const victim = (a.executors as ExecutorView[]).find((e) => e.role === 'executor')!.worker;
      const epochBefore = a.epoch as number;
      c.net.isolate(victim);
      const after = await waitFor('executors replaced away from the isolated worker', 60_000, async () => {
        const s = await c.status(app.appId);
        const ex = s.executors as ExecutorView[];
        return s.epoch > epochBefore && ex.length > 0 && ex.every((e) => e.worker !== victim) && s.appMaster?.phase === 'running' ? s : undefined;
      }, 500);
      await progressed(app.appId, after.appMaster.committed as number); // without the isolated host
      c.net.heal(victim);
      // Exact output: the zombie executors on the healed host committed nothing.
      await endsExact(app);
    }), 240_000);

    // The AppMaster's host loses its link: the master relaunches the AppMaster elsewhere
    // (a new epoch fences the old one's commits), and the isolated one exits when it heals.
    it("survives the AppMaster's host isolated", tracked(async () => {
      const app = await submit('am-isolated', 30_000, 2000);
      const a = await running(app.appId);
      const oldAm = (a.executors as ExecutorView[]).find((e) => e.role === 'appmaster')!;
      const victim = oldAm.worker;
      const epochBefore = a.epoch as number;
      c.net.isolate(victim);
      await waitFor('a new AppMaster away from the isolated host', 60_000, async () => {
        const s = await c.status(app.appId);
        const am = (s.executors as ExecutorView[]).find((e) => e.role === 'appmaster');
        return s.epoch > epochBefore && am && am.worker !== victim && s.appMaster?.phase === 'running' ? s : undefined;
      }, 500);
      c.net.heal(victim);
      // Hosts are namespaces of one kernel, so the old AppMaster's pid is visible here: once
      // its link is back it learns it was replaced and exits (never two AppMasters at work).
      await waitFor(`the replaced AppMaster (pid ${oldAm.pid}) to exit`, 60_000, async () => {
        try {
          process.kill(oldAm.pid, 0);
          return undefined;
        } catch {
          return true;
        }
      }, 500);
      await endsExact(app);
    }), 240_000);

    it('survives the store cut off from one worker only', tracked(async () => {
      const app = await submit('store-cut', 30_000, 2000);
      const a = await running(app.appId);
      const victim = (a.executors as ExecutorView[]).find((e) => e.role === 'executor')!.worker;
      c.net.cut(victim, 'store');
      try {
        // The worker still reaches the master: its executors fail on the store, not by silence.
        await new Promise((r) => setTimeout(r, 5000));
      } finally {
        c.net.mend(victim, 'store');
      }
      await endsExact(app);
    }), 240_000);

    it('survives a flapping link', tracked(async () => {
      const app = await submit('flapping', 30_000, 2000);
      const a = await running(app.appId);
      const victim = (a.executors as ExecutorView[]).find((e) => e.role === 'executor')!.worker;
      // Down 0.8 s, up 0.8 s, eight times: shorter than the worker timeout, so each outage
      // alone is survivable; together they exercise reconnects under loss.
      for (let i = 0; i < 8; i++) {
        c.net.isolate(victim);
        await new Promise((r) => setTimeout(r, 800));
        c.net.heal(victim);
        await new Promise((r) => setTimeout(r, 800));
      }
      await endsExact(app);
    }), 240_000);
  });
}
