// LeaderElection against a real three-member etcd, with candidates in their own processes:
// SIGKILL the leader (a successor is elected within the lease bound), and SIGSTOP the leader
// past its lease then SIGCONT (it steps down; nothing it writes after waking lands in etcd,
// even though it keeps its stale fence: only etcd's compare stops it).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient, LeaderElection, type LeadershipChange } from '@sluice/engine';
import { etcdLeg, startEtcdCluster, type EtcdClusterHandle } from '../../../../test/servers/etcd.js';

const CANDIDATE = fileURLToPath(new URL('./fixtures/candidate.mjs', import.meta.url));
const LEASE_TTL_MS = 2000;
const log = pino({ level: process.env.SLUICE_TEST_LOG ?? 'warn' }, pino.destination(2));

type Event = { ev: 'change'; role: string; leader?: string; t: number } | { ev: 'write'; ok: boolean; n: number; code?: string; t: number };

/** A candidate process; its JSON lines are collected as events. Stopped by PID. */
class Candidate {
  readonly events: Event[] = [];
  readonly child: ChildProcess;
  constructor(endpoints: string[], prefix: string, readonly address: string, mode: 'idle' | 'write-loop') {
    this.child = spawn(process.execPath, [CANDIDATE, endpoints.join(','), prefix, address, String(LEASE_TTL_MS), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        this.events.push(JSON.parse(buf.slice(0, nl)) as Event);
        buf = buf.slice(nl + 1);
      }
    });
  }
  async waitFor(pred: (e: Event) => boolean, timeoutMs: number, what: string): Promise<Event> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`${this.address}: no ${what} within ${timeoutMs} ms; events: ${JSON.stringify(this.events.slice(-10))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  kill(sig: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid!, sig);
  }
}

const leg = etcdLeg();
if (!leg.run) {
  if (leg.required) describe('etcd leg (SLUICE_REQUIRE_ETCD=1)', () => it('has etcd installed', () => expect.fail(leg.reason)));
  else describe.skip(leg.reason, () => it('needs etcd', () => undefined));
} else {
  describe('LeaderElection on a 3-member etcd', () => {
    let etcd: EtcdClusterHandle;
    let client: Etcd3;
    const started: Candidate[] = [];
    const elections: LeaderElection[] = [];
    let n = 0;
    const prefix = (): string => `/sluice-el-${++n}/`;

    beforeAll(async () => {
      etcd = await startEtcdCluster();
      client = createEtcdClient({ endpoints: etcd.endpoints, requestTimeoutMs: 1000 });
    });
    afterEach(async () => {
      for (const c of started.splice(0)) {
        c.kill('SIGCONT');
        c.kill('SIGKILL');
      }
      for (const e of elections.splice(0)) await e.stop();
    });
    afterAll(async () => {
      client?.close();
      await etcd?.close();
    });

    const inProcess = (pfx: string, address: string, leaseTtlMs = LEASE_TTL_MS): LeaderElection => {
      const e = new LeaderElection({ client, prefix: pfx, address, leaseTtlMs, logger: log });
      elections.push(e);
      return e;
    };

    it('one leader among three; followers know its address; stop() hands over at once', async () => {
      const pfx = prefix();
      // A long lease, so "handed over by the resign" and "waited out the lease" stay far apart
      // even on a loaded CI machine.
      const lease = 8_000;
      const [a, b, c] = ['http://a:1', 'http://b:1', 'http://c:1'].map((addr) => inProcess(pfx, addr, lease));
      await a!.start();
      await a!.waitForLeadership(5_000);
      await b!.start();
      await c!.start();
      await expect.poll(() => [b!.leader, c!.leader], { timeout: 5_000 }).toEqual(['http://a:1', 'http://a:1']);
      expect([a!.role, b!.role, c!.role]).toEqual(['leader', 'follower', 'follower']);
      expect(a!.fence()).toMatchObject({ key: expect.stringContaining(`${pfx}election/`) });
      expect(b!.fence()).toBeUndefined();
      // resign: the next oldest candidate (b) leads well before a lease could expire
      const t0 = Date.now();
      await a!.stop();
      await b!.waitForLeadership(lease);
      const handoverMs = Date.now() - t0;
      process.stderr.write(`election handover after resign: ${handoverMs} ms (lease ${lease} ms)\n`);
      expect(handoverMs).toBeLessThan(lease / 2);
      await expect.poll(() => c!.leader, { timeout: 5_000 }).toBe('http://b:1');
    });

    it('SIGKILL the leader process: a follower is elected within lease + bound and reports the change', async () => {
      const pfx = prefix();
      const leader = new Candidate(etcd.endpoints, pfx, 'http://killed:1', 'idle');
      started.push(leader);
      await leader.waitFor((e) => e.ev === 'change' && e.role === 'leader', 10_000, 'election');
      const follower = inProcess(pfx, 'http://survivor:1');
      const changes: LeadershipChange[] = [];
      follower.on('change', (c) => changes.push(c));
      await follower.start();
      await expect.poll(() => follower.leader, { timeout: 5_000 }).toBe('http://killed:1');
      const t0 = Date.now();
      leader.kill('SIGKILL');
      await follower.waitForLeadership(LEASE_TTL_MS + 3_000);
      const handoverMs = Date.now() - t0;
      process.stderr.write(`election handover after leader SIGKILL: ${handoverMs} ms (lease ${LEASE_TTL_MS} ms)\n`);
      expect(handoverMs).toBeLessThanOrEqual(LEASE_TTL_MS + 3_000);
      expect(changes.at(-1)).toEqual({ role: 'leader', leader: 'http://survivor:1' });
    });

    it('SIGSTOP the leader past its lease, then SIGCONT: it steps down and nothing it writes lands', async () => {
      const pfx = prefix();
      const zombie = new Candidate(etcd.endpoints, pfx, 'http://zombie:1', 'write-loop');
      started.push(zombie);
      await zombie.waitFor((e) => e.ev === 'write' && e.ok && e.n >= 3, 10_000, 'writes landing');
      const successor = inProcess(pfx, 'http://successor:1');
      await successor.start();
      zombie.kill('SIGSTOP');
      const key = `${pfx}apps/zombie`;
      const atStop = (await client.get(key).exec()).kvs[0]!;
      const writesBefore = zombie.events.filter((e) => e.ev === 'write').length;
      // past the lease: etcd expires the zombie's key, the successor leads
      await successor.waitForLeadership(LEASE_TTL_MS + 3_000);
      zombie.kill('SIGCONT');
      // the zombie keeps its stale fence and writes every 50 ms: give it well over a second of tries
      await zombie.waitFor((e) => e.ev === 'change' && e.role === 'follower', 5_000, 'step-down');
      await new Promise((r) => setTimeout(r, 1_500));
      const after = zombie.events.filter((e) => e.ev === 'write').slice(writesBefore);
      expect(after.length).toBeGreaterThan(5); // it really tried
      expect(after.filter((e) => e.ev === 'write' && e.ok)).toEqual([]);
      expect(new Set(after.map((e) => (e.ev === 'write' ? e.code : '')))).toEqual(new Set(['NOT_LEADER']));
      const now = (await client.get(key).exec()).kvs[0]!;
      expect(String(now.mod_revision)).toBe(String(atStop.mod_revision));
      expect(now.value.toString()).toBe(atStop.value.toString());
      expect(successor.role).toBe('leader');
    });
  });
}
