// `sluice masters` (the built CLI, in its own process) against a real 3-member etcd and two
// masters whose /health reports a real LeaderElection's role and leader (what the master
// does once integrated): it shows the leader, and the new one after the leader is stopped.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient, LeaderElection } from '@sluice/engine';
import { JsonRouter } from '../../src/cluster/http.js';
import { etcdLeg, startEtcdCluster, type EtcdClusterHandle } from '../../../../test/servers/etcd.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const log = pino({ level: 'silent' });

function sluice(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const leg = etcdLeg();
if (!leg.run) {
  if (leg.required) describe('etcd leg (SLUICE_REQUIRE_ETCD=1)', () => it('has etcd installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs etcd', () => undefined));
} else {
  describe('sluice masters', () => {
    let etcd: EtcdClusterHandle;
    let client: Etcd3;
    let dir: string;
    const masters: Array<{ url: string; server: Server; election: LeaderElection }> = [];

    beforeAll(async () => {
      etcd = await startEtcdCluster();
      client = createEtcdClient({ endpoints: etcd.endpoints, requestTimeoutMs: 1000 });
      for (let i = 0; i < 2; i++) {
        const r = new JsonRouter();
        const m = { url: '', server: undefined as unknown as Server, election: undefined as unknown as LeaderElection };
        r.add('GET', '/health', async () => ({ ok: true, role: m.election.role, leader: m.election.leader }));
        m.server = await r.listen('127.0.0.1', 0);
        const a = m.server.address();
        m.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
        m.election = new LeaderElection({ client, prefix: '/sluice/', address: m.url, leaseTtlMs: 2000, logger: log });
        await m.election.start();
        if (i === 0) await m.election.waitForLeadership(5_000);
        masters.push(m);
      }
      dir = mkdtempSync(join(tmpdir(), 'sluice-masters-'));
      writeFileSync(
        join(dir, 'cluster.yaml'),
        `master:\n  urls: [${masters.map((m) => m.url).join(', ')}]\n  ha:\n    etcd: { endpoints: [${etcd.endpoints.join(', ')}], prefix: /sluice/, leaseTtlMs: 2000 }\n`,
      );
    });
    afterAll(async () => {
      for (const m of masters) {
        await m.election.stop();
        await new Promise((r) => m.server.close(r));
      }
      client?.close();
      await etcd?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('shows every master, the leader and healthy etcd members; then the new leader when the leader goes', async () => {
      const cfg = join(dir, 'cluster.yaml');
      const first = await sluice(['masters', '-c', cfg, '--json']);
      expect(first.code, first.stderr).toBe(0);
      const r1 = JSON.parse(first.stdout) as { leader: string; masters: Array<{ url: string; role: string }>; etcd: { electionLeader: string; members: Array<{ healthy: boolean; isRaftLeader: boolean }> } };
      expect(r1.leader).toBe(masters[0]!.url);
      expect(r1.masters.map((m) => m.role)).toEqual(['leader', 'follower']);
      expect(r1.etcd.electionLeader).toBe(masters[0]!.url);
      expect((r1.etcd as { candidates?: string[] }).candidates).toEqual(masters.map((m) => m.url));
      expect(r1.etcd.members.map((m) => m.healthy)).toEqual([true, true, true]);
      expect(r1.etcd.members.filter((m) => m.isRaftLeader)).toHaveLength(1);

      // the leader goes away (resigns and stops serving)
      await masters[0]!.election.stop();
      await new Promise((r) => masters[0]!.server.close(r));
      await masters[1]!.election.waitForLeadership(5_000);

      const text = await sluice(['masters', '-c', cfg]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toContain(`leader: ${masters[1]!.url}`);
      expect(text.stdout).toMatch(new RegExp(`${masters[0]!.url}\\s+unreachable`));
      expect(text.stdout).toMatch(/healthy/);
    });

    it('exits 1 when no master leads and none is reachable', async () => {
      const r = await sluice(['masters', '--master', 'http://127.0.0.1:1', '--json']);
      expect(r.code).toBe(1);
      expect((JSON.parse(r.stdout) as { masters: Array<{ reachable: boolean }> }).masters[0]!.reachable).toBe(false);
    });
  });
}
