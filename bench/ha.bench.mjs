// Master HA: leader SIGKILL -> a successor elected, and -> the first seed write accepted by
// it (Sluice's LeaderElection + EtcdSeedStore), beside the etcd3 library's own election
// recipe (Election.campaign) handing over in the same run, on the same 3-member etcd, with
// the same 2 s lease. Goal (issue 11): control plane back in <= 3 s with a 2 s lease.
//
// The bench cannot import the TypeScript test launcher, so it starts the three members
// itself (same flags as test/servers/etcd.ts) and stops them by PID.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Etcd3 } from 'etcd3';
import { createEtcdClient, EtcdSeedStore, LeaderElection } from '../packages/engine/dist/index.js';
import { report } from './lib.mjs';

const LEASE_TTL_MS = 2000;
const RUNS = 3;
const CANDIDATE = fileURLToPath(new URL('../packages/engine/test/ha/fixtures/candidate.mjs', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-ha-'));
const ports = [];
while (ports.length < 6) {
  const p = await freePort();
  if (!ports.includes(p)) ports.push(p);
}
const cluster = [0, 1, 2].map((i) => `e${i}=http://127.0.0.1:${ports[3 + i]}`).join(',');
const members = [0, 1, 2].map((i) =>
  spawn('etcd', ['--name', `e${i}`, '--data-dir', join(dir, `e${i}`), '--listen-client-urls', `http://127.0.0.1:${ports[i]}`, '--advertise-client-urls', `http://127.0.0.1:${ports[i]}`,
    '--listen-peer-urls', `http://127.0.0.1:${ports[3 + i]}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${ports[3 + i]}`, '--initial-cluster', cluster,
    '--initial-cluster-state', 'new', '--initial-cluster-token', `bench-${process.pid}`, '--heartbeat-interval', '50', '--election-timeout', '500'], { stdio: 'ignore' }),
);
const endpoints = ports.slice(0, 3).map((p) => `127.0.0.1:${p}`);
const stopAll = () => {
  for (const m of members) if (m.exitCode === null && m.signalCode === null) m.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', stopAll);

/** Spawns a node child running `code` (ESM); resolves once it prints 'elected'. */
function child(args, electedMarker) {
  const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('child not elected within 15 s')), 15_000);
    let buf = '';
    c.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes(electedMarker)) {
        clearTimeout(t);
        resolve(c);
      }
    });
  });
}

const RAW_CANDIDATE = `
import { Etcd3 } from 'etcd3';
const client = new Etcd3({ hosts: process.argv[1].split(',').map((h) => 'http://' + h) });
const c = client.election(process.argv[2], ${LEASE_TTL_MS / 1000}).campaign('killed');
c.on('elected', () => process.stdout.write('elected\\n'));
`;

try {
  const probe = new Etcd3({ hosts: endpoints.map((h) => `http://${h}`) });
  for (let i = 0; i < 100; i++) {
    try {
      await probe.put('/bench/ready').value('1');
      break;
    } catch {
      await sleep(100);
    }
  }
  probe.close();

  // ---------------------------------------------------------------- baseline: etcd3's Election
  const raw = [];
  for (let run = 0; run < RUNS; run++) {
    const name = `raw-${run}`;
    const leader = await child(['--input-type=module', '-e', RAW_CANDIDATE, endpoints.join(','), name], 'elected');
    const client = new Etcd3({ hosts: endpoints.map((h) => `http://${h}`) });
    const campaign = client.election(name, LEASE_TTL_MS / 1000).campaign('successor');
    await sleep(300); // the successor is queued behind the leader
    const t0 = performance.now();
    leader.kill('SIGKILL');
    await new Promise((r) => campaign.once('elected', r));
    raw.push(performance.now() - t0);
    await campaign.resign();
    client.close();
  }

  // ---------------------------------------------------------------- ours: LeaderElection + first seed write
  const elected = [];
  const firstWrite = [];
  const log = pino({ level: 'silent' });
  for (let run = 0; run < RUNS; run++) {
    const prefix = `/bench-ha-${run}/`;
    const leader = await child([CANDIDATE, endpoints.join(','), prefix, 'http://killed:1', String(LEASE_TTL_MS), 'idle'], '"role":"leader"');
    const client = createEtcdClient({ endpoints, requestTimeoutMs: 1000 });
    const election = new LeaderElection({ client, prefix, address: 'http://successor:1', leaseTtlMs: LEASE_TTL_MS, logger: log });
    const store = new EtcdSeedStore({ client, prefix, fence: election });
    await election.start();
    await sleep(300);
    const t0 = performance.now();
    leader.kill('SIGKILL');
    await election.waitForLeadership(15_000);
    elected.push(performance.now() - t0);
    const now = Date.now();
    await store.create({ appId: 'bench', name: 'bench', status: 'running', epoch: 1, jar: 'a.jar', sha256: 'a'.repeat(64), owner: 'sluice', createdAt: now, updatedAt: now, restarts: 0, recentRestarts: [] });
    firstWrite.push(performance.now() - t0);
    await election.stop();
    client.close();
  }

  report({ name: 'ha leader SIGKILL -> successor elected', value: median(elected), unit: 'ms', baseline: 'etcd3 Election.campaign hand-over (same etcd, same 2 s lease)', baselineValue: median(raw), higherIsBetter: false, goal: '<= 3000 ms with a 2 s lease', notes: `median of ${RUNS}; ours ${elected.map(Math.round).join('/')}, etcd3 ${raw.map(Math.round).join('/')}` });
  report({ name: 'ha leader SIGKILL -> first seed write accepted by the new leader', value: median(firstWrite), unit: 'ms', baseline: 'etcd3 Election.campaign hand-over (same etcd, same 2 s lease)', baselineValue: median(raw), higherIsBetter: false, goal: '<= 3000 ms with a 2 s lease', notes: `median of ${RUNS}: ${firstWrite.map(Math.round).join('/')}; the running-app checkpoint figure needs the master integration` });
} finally {
  stopAll();
}
