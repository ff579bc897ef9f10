import type { TestJson } from './helpers/engine-cluster.js';
// Master HA end to end: a real three-member etcd, three `sluice master` processes and two
// workers on the fs store. Kill the leader during a word count, lose one etcd member, lose
// all of etcd, roll every master, race concurrent submits: outputs stay exact, no epoch
// is used twice, no app restarts because of the control plane.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { openConfiguredStorage, parseStorageConfig } from '@sluice/storage-api';
import { cli, credentials, Proc, referenceCount, useAdminToken, waitFor, WORD_COUNT, writeWords } from './helpers/engine-cluster.js';
import { etcdLeg, startEtcdCluster, type EtcdClusterHandle } from '../servers/etcd.js';

const LEASE_MS = 2000;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** One HTTP call with the admin token; never throws for HTTP errors (returns status + body). */
async function call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: TestJson }> {
  const headers: Record<string, string> = { authorization: `Bearer ${credentials.token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(url + path, { method, headers, signal: AbortSignal.timeout(5000), ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: await res.json().catch(() => ({})) };
  } catch (err) {
    return { status: 0, body: { error: { code: 'UNREACHABLE', message: String(err) } } };
  }
}

const leg = etcdLeg();
if (!leg.run) {
  if (leg.required) describe('master HA leg (SLUICE_REQUIRE_ETCD=1)', () => it('has etcd installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs etcd', () => undefined));
} else {
  describe('master HA on etcd (3 etcd members, 3 masters, 2 workers)', () => {
    let etcd: EtcdClusterHandle;
    let dir: string;
    const ports: number[] = [];
    const urls: string[] = [];
    const masters: Array<Proc | undefined> = [];
    const workers: Proc[] = [];

    const startMaster = async (i: number): Promise<void> => {
      const p = Proc.start(['master', '-c', 'cluster.yaml', '--port', String(ports[i])], { cwd: dir, env: { SLUICE_LOG_LEVEL: 'info', SLUICE_LOG_FILE: join(dir, `master-${i}.log`) } });
      masters[i] = p;
      await p.line(/master listening on/, 30_000);
    };

    /** The master whose /health says it leads, waiting (bounded) until there is one. */
    const leader = async (timeoutMs = 20_000): Promise<number> =>
      waitFor('a leader', timeoutMs, async () => {
        for (let i = 0; i < urls.length; i++) {
          if (!masters[i]) continue;
          const h = await call(urls[i]!, 'GET', '/health');
          if (h.body?.role === 'leader') return i;
        }
        return undefined;
      }, 100);

    const app = async (appId: string): Promise<TestJson> => {
      const i = await leader();
      const r = await call(urls[i]!, 'GET', `/apps/${appId}`);
      if (r.status !== 200) throw new Error(`GET /apps/${appId}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };

    const ended = (appId: string, timeoutMs = 120_000): Promise<TestJson> =>
      waitFor(`app ${appId} to end`, timeoutMs, async () => {
        const a = await app(appId);
        return ['running', 'pending'].includes(a.status) ? undefined : a;
      }, 300);

    const submit = async (input: string, output: string, linesPerSec: number): Promise<string> => {
      const r = await cli(['submit', WORD_COUNT, '--master', urls.join(','), '--json', '--config', `input=${input}`, '--config', `output=${output}`,
        '--config', 'executors=2', '--config', 'checkpointIntervalMs=300', '--config', `linesPerSec=${linesPerSec}`], dir);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { appId: string }).appId;
    };

    beforeAll(async () => {
      etcd = await startEtcdCluster();
      dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-ha-'));
      for (let i = 0; i < 3; i++) {
        ports.push(await freePort());
        urls.push(`http://127.0.0.1:${ports[i]}`);
      }
      writeFileSync(join(dir, 'cluster.yaml'), [
        'storage:',
        '  default:',
        "    module: '@sluice/storage-fs'",
        '    options: { root: ./store }',
        'master:',
        '  host: 127.0.0.1',
        `  urls: [${urls.map((u) => `'${u}'`).join(', ')}]`,
        '  appMasterTimeoutMs: 5000',
        '  ha:',
        `    etcd: { endpoints: [${etcd.endpoints.map((e) => `'${e}'`).join(', ')}], prefix: /sluice-test/, leaseTtlMs: ${LEASE_MS}, requestTimeoutMs: 1000 }`,
        'worker:',
        '  cacheDir: ./workers',
        '  heartbeatMs: 200',
        '',
      ].join('\n'));
      for (let i = 0; i < 3; i++) await startMaster(i);
      await leader();
      await useAdminToken(dir);
      for (const name of ['w1', 'w2']) {
        const w = Proc.start(['worker', '-c', 'cluster.yaml', '--name', name], { cwd: dir });
        workers.push(w);
        await w.line(/registered/, 30_000);
      }
    }, 120_000);

    afterAll(async () => {
      await Promise.allSettled(workers.map((w) => w.stop()));
      await Promise.allSettled(masters.filter((m) => m !== undefined).map((m) => m.stop()));
      await etcd?.close();
      if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    it('every master\'s /health lists the masters campaigning in etcd, the leader first', async () => {
      const lead = await leader();
      for (const u of urls) {
        const h = await waitFor(`${u} to see all three masters`, 10_000, async () => {
          const b = (await call(u, 'GET', '/health')).body;
          return b?.masters?.length === 3 ? b : undefined;
        }, 100);
        expect([...h.masters].sort()).toEqual([...urls].sort());
        expect(h.masters[0]).toBe(urls[lead]);
        expect(h.leader).toBe(urls[lead]);
      }
    });

    it('SIGKILL the leader during a word count: a new leader serves within the bound; exact output, no restart, no new epoch', async () => {
      const input = join(dir, 'kill-words.txt');
      writeWords(input, 4000, 5);
      const output = join(dir, 'kill-out');
      const appId = await submit(input, output, 500);
      const before = await waitFor('a committed checkpoint', 60_000, async () => {
        const a = await app(appId);
        return a.appMaster?.committed > 0 ? a : undefined;
      });
      const old = await leader();
      const t0 = Date.now();
      // SIGKILL: no resignation, the lease has to expire.
      masters[old]!.child.kill('SIGKILL');
      await masters[old]!.exited;
      masters[old] = undefined;
      const next = await leader(15_000);
      const elected = Date.now() - t0;
      // First write the new leader accepts (an ACL change goes through etcd).
      await waitFor('a write on the new leader', 15_000, async () => ((await call(urls[next]!, 'PUT', `/apps/${appId}/acl`, { acl: [] })).status === 200 ? true : undefined), 100);
      const firstWrite = Date.now() - t0;
      expect(next).not.toBe(old);
      // The dead master leaves the list once its lease is gone; the new leader heads it.
      const alive = urls.filter((_, i) => i !== old);
      await waitFor('the masters list without the killed one', 10_000, async () => {
        const m = (await call(urls[next]!, 'GET', '/health')).body?.masters as string[] | undefined;
        return m && m.length === 2 && m[0] === urls[next] && [...m].sort().join() === [...alive].sort().join() ? true : undefined;
      }, 100);
      // Control plane back within the lease + the election + a margin for a loaded machine.
      expect(firstWrite).toBeLessThan(LEASE_MS + 6000);
      const end = await ended(appId);
      expect(end.status, end.error).toBe('stopped');
      expect(end.restarts).toBe(0);
      expect(end.epoch).toBe(before.epoch);
      expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
      process.stderr.write(`HA: leader SIGKILL -> elected ${elected} ms, first write ${firstWrite} ms\n`);
      await startMaster(old);
    }, 180_000);

    it('one etcd member of three killed: nothing notices; all of etcd stopped: writes refused typed, the app goes on; etcd back: service resumes', async () => {
      await etcd.kill(2);
      const input = join(dir, 'etcd-words.txt');
      writeWords(input, 3000, 9);
      const output = join(dir, 'etcd-out');
      const appId = await submit(input, output, 300);
      const running = await waitFor('a committed checkpoint', 60_000, async () => {
        const a = await app(appId);
        return a.appMaster?.committed > 0 ? a : undefined;
      });
      await etcd.startMember(2);

      await etcd.killAll();
      // Writes are refused with a typed error (the leader steps down when it cannot renew).
      const refused = await waitFor('a typed refusal', 15_000, async () => {
        const r = await call(urls[0]!, 'PUT', `/apps/${appId}/acl`, { acl: [] });
        return r.status >= 400 ? r : undefined;
      }, 200);
      expect(['NOT_LEADER', 'SEED_STORE_UNAVAILABLE', 'UNREACHABLE']).toContain(refused.body.error.code);
      const sub = await cli(['submit', WORD_COUNT, '--master', urls.join(','), '--config', `input=${input}`, '--config', `output=${join(dir, 'x')}`], dir);
      expect(sub.code).not.toBe(0);
      expect(sub.stderr).toMatch(/NOT_LEADER|SEED_STORE_UNAVAILABLE|no master accepted/);
      // The app keeps committing checkpoints into its store while etcd (and so the master) is gone.
      const storage = await openConfiguredStorage(parseStorageConfig({ default: { module: '@sluice/storage-fs', options: { root: join(dir, 'store') } } }), { baseDir: dir });
      try {
        const store = await storage.getAppStorage(appId);
        const last = async (): Promise<number> => (await store!.checkpoints('tasks').last())?.t ?? 0;
        const t1 = await last();
        const t2 = await waitFor('a checkpoint committed during the etcd outage', 15_000, async () => {
          const t = await last();
          return t > t1 ? t : undefined;
        }, 250);
        expect(t2).toBeGreaterThan(t1);
        await store!.close();
      } finally {
        await storage.close();
      }

      await etcd.startAll();
      await etcd.waitHealthy(30_000);
      await leader(30_000);
      const end = await ended(appId, 180_000);
      expect(end.status, end.error).toBe('stopped');
      expect(end.restarts).toBe(0);
      expect(end.epoch).toBe(running.epoch);
      expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
    }, 300_000);

    it('SIGSTOP the leader past its lease, then SIGCONT: it steps down and what it held changes nothing', async () => {
      const input = join(dir, 'stop-words.txt');
      writeWords(input, 3000, 21);
      const output = join(dir, 'stop-out');
      const appId = await submit(input, output, 400);
      const before = await waitFor('a committed checkpoint', 60_000, async () => {
        const a = await app(appId);
        return a.appMaster?.committed > 0 ? a : undefined;
      });
      const old = await leader();
      const pid = masters[old]!.child.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        const next = await waitFor('a new leader while the old one sleeps', 20_000, async () => {
          for (let i = 0; i < 3; i++) {
            if (i === old || !masters[i]) continue;
            if ((await call(urls[i]!, 'GET', '/health')).body?.role === 'leader') return i;
          }
          return undefined;
        }, 100);
        expect((await call(urls[next]!, 'PUT', `/apps/${appId}/acl`, { acl: ['u:marker:r'] })).status).toBe(200);
        await new Promise((r) => setTimeout(r, LEASE_MS));
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      // Awake: it must not believe it still leads.
      await waitFor('the old leader to step down', 10_000, async () => ((await call(urls[old]!, 'GET', '/health')).body?.role === 'follower' ? true : undefined), 100);
      const l = await leader();
      expect(l).not.toBe(old);
      expect((await call(urls[l]!, 'GET', `/apps/${appId}/acl`)).body.acl).toEqual(['u:marker:r']);
      const end = await ended(appId);
      expect(end.status, end.error).toBe('stopped');
      expect(end.restarts).toBe(0);
      expect(end.epoch).toBe(before.epoch);
      expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
    }, 180_000);

    it('rolls every master one by one while an app runs: exact output, no restart', async () => {
      const input = join(dir, 'roll-words.txt');
      writeWords(input, 4000, 13);
      const output = join(dir, 'roll-out');
      const appId = await submit(input, output, 400);
      const before = await waitFor('running', 60_000, async () => {
        const a = await app(appId);
        return a.appMaster?.phase === 'running' ? a : undefined;
      });
      for (let i = 0; i < 3; i++) {
        await masters[i]!.stop();
        masters[i] = undefined;
        await leader(15_000);
        await startMaster(i);
      }
      const end = await ended(appId);
      expect(end.status, end.error).toBe('stopped');
      expect(end.restarts).toBe(0);
      expect(end.epoch).toBe(before.epoch);
      expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
    }, 240_000);

    it('concurrent submits on the etcd seed store: every AppMaster launch has its own epoch', async () => {
      const input = join(dir, 'race-words.txt');
      writeWords(input, 40, 3);
      const l = await leader();
      const ids = await Promise.all([...Array(8).keys()].map(async (i) => {
        const res = await fetch(`${urls[l]}/apps?name=race${i}&config=${encodeURIComponent(JSON.stringify({ input, output: join(dir, `race-${i}`), executors: 1, parallelism: 1 }))}`, {
          method: 'POST', headers: { authorization: `Bearer ${credentials.token}` }, body: readFileSync(WORD_COUNT),
        });
        const body = (await res.json()) as { appId: string };
        expect(res.status, JSON.stringify(body)).toBe(200);
        return body.appId;
      }));
      for (const id of ids) {
        const e = await ended(id).catch(async (err: unknown) => {
          throw new Error(`${String(err)}; state: ${JSON.stringify(await app(id))}`);
        });
        expect(e.status).toBe('stopped');
      }
      const reference = await referenceCount(readFileSync(input, 'utf8'));
      for (let i = 0; i < 8; i++) expect(readCommittedOutput(join(dir, `race-${i}`))).toEqual(reference);
      const launches: string[] = [];
      for (let i = 0; i < 3; i++) {
        const f = join(dir, `master-${i}.log`);
        if (!existsSync(f)) continue;
        for (const line of readFileSync(f, 'utf8').split('\n')) {
          if (!line.includes('launching AppMaster')) continue;
          const r = JSON.parse(line) as { appId: string; epoch: number };
          if (ids.includes(r.appId)) launches.push(`${r.appId}@${r.epoch}`);
        }
      }
      expect(launches).toHaveLength(8);
      expect(new Set(launches).size).toBe(8);
    }, 180_000);
  });
}
