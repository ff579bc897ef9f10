// End-to-end latency on a local cluster (master, 2 workers, source and sink on two
// executor processes): a source stamps records with wall time, the sink records now -
// stamp. First the maximum throughput the pipeline sustains, then p50/p99 latency at 50%
// and 90% of it, beside the bare TCP round trip between two Node processes measured in
// the same run. Gearpump reported 2 ms at moderate load and 17 ms at full load.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalCluster } from '../packages/engine/dist/cluster/local-cluster.js';
import { loadClusterConfig } from '../packages/engine/dist/config/cluster-config.js';
import { uploadArtifact } from '../packages/engine/dist/cluster/client.js';
import { callJson } from '../packages/engine/dist/cluster/http.js';
import { report } from './lib.mjs';

const APP = fileURLToPath(new URL('./apps/latency-app.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-latency-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const DURATION_MS = Number(process.env.LATENCY_DURATION_MS ?? 10_000);
const WARMUP_MS = 3000;
/** The engine's default interval (an app finishes only at a checkpoint after its source ends, so it must stay well below the duration). */
const CHECKPOINT_MS = 1000;

/** Ping-pong of 64-byte messages with an echo server in a child process: RTT p50/p99 in ms. */
async function tcpRoundTrip(rounds = 5000) {
  const server = spawn(process.execPath, ['-e', `
    const s = require('node:net').createServer((c) => { c.setNoDelay(true); c.on('data', (d) => c.write(d)); });
    s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((resolve, reject) => {
      server.stdout.once('data', (d) => resolve(Number(String(d).trim())));
      server.once('exit', (c) => reject(new Error(`echo server exited ${c}`)));
    });
    const sock = connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    const msg = Buffer.alloc(64, 7);
    const rtts = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      sock.write(msg);
      let got = 0;
      await new Promise((r) => {
        const on = (d) => {
          got += d.length;
          if (got >= msg.length) {
            sock.off('data', on);
            r();
          }
        };
        sock.on('data', on);
      });
      rtts.push(performance.now() - t0);
    }
    sock.destroy();
    rtts.sort((a, b) => a - b);
    return { p50: rtts[Math.floor(rtts.length * 0.5)], p99: rtts[Math.floor(rtts.length * 0.99)] };
  } finally {
    server.kill('SIGKILL');
  }
}

async function runPhase(master, name, rate) {
  const out = join(dir, `${name}.json`);
  const { appId } = await uploadArtifact(master, APP, `latency-${name}`, { out, rate, durationMs: DURATION_MS, warmupMs: WARMUP_MS, executors: 2, checkpointIntervalMs: CHECKPOINT_MS });
  const deadline = Date.now() + DURATION_MS + 90_000;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    const a = await callJson(master, 'GET', `/apps/${appId}`);
    if (a.status === 'failed' || a.status === 'killed') throw new Error(`latency app ${name} ${a.status}: ${a.error ?? a.lastFailure?.reason ?? ''}`);
    if (a.status === 'stopped' && existsSync(out)) break;
    await sleep(250);
  }
  if (!existsSync(out)) throw new Error(`latency app ${name} wrote no result within ${DURATION_MS + 90_000} ms`);
  const r = JSON.parse(readFileSync(out, 'utf8'));
  if (!(r.count > 0)) throw new Error(`latency app ${name} measured nothing: ${JSON.stringify(r)}`);
  return r;
}

try {
  const tcp = await tcpRoundTrip();
  writeFileSync(join(dir, 'cluster.yaml'), "storage:\n  default:\n    module: '@sluice/storage-fs'\n    options:\n      root: ./store\nmaster:\n  port: 0\n  seedFile: ./seed.json\nworker:\n  cacheDir: ./workers\n  heartbeatMs: 200\n# Loopback only: the bench measures the data path, not tokens.\nauth:\n  enabled: false\n");
  process.env.SLUICE_LOG_LEVEL = 'warn';
  process.env.SLUICE_LOG_FILE = join(dir, 'cluster.log');
  const cluster = await startLocalCluster(await loadClusterConfig(join(dir, 'cluster.yaml')), { workers: 2 });
  const master = `http://${cluster.address}`;
  try {
    const full = await runPhase(master, 'max', 0);
    const max = full.ratePerSec;
    process.stdout.write(`max throughput ${Math.round(max)} records/s (p50 ${full.p50.toFixed(2)} ms, p99 ${full.p99.toFixed(2)} ms while saturated); TCP RTT p50 ${tcp.p50.toFixed(3)} ms p99 ${tcp.p99.toFixed(3)} ms\n`);
    report({ name: 'latency: max throughput, source -> sink on two executors', value: max, unit: 'records/s', notes: `saturated: p50 ${full.p50.toFixed(2)} ms, p99 ${full.p99.toFixed(2)} ms (queueing)` });
    for (const [label, frac] of [['50%', 0.5], ['90%', 0.9]]) {
      const rate = Math.max(1, Math.round(max * frac));
      const r = await runPhase(master, label.replace('%', 'pct'), rate);
      const achieved = `${Math.round(r.ratePerSec)} of ${rate} records/s offered`;
      process.stdout.write(`${label}: windows (ms after the first record) with a record over 10 ms: ${r.slowWindowsMs.join(' ')}\n`);
      report({ name: `latency p50 at ${label} of max throughput`, value: r.p50, unit: 'ms', baseline: 'bare TCP round trip between two processes, p50', baselineValue: tcp.p50, higherIsBetter: false, goal: 'Gearpump: 2 ms moderate load', notes: achieved });
      report({ name: `latency p99 at ${label} of max throughput`, value: r.p99, unit: 'ms', baseline: 'bare TCP round trip between two processes, p99', baselineValue: tcp.p99, higherIsBetter: false, goal: label === '90%' ? 'Gearpump: 17 ms full load' : '<= 10 ms (issue 23); Gearpump: 2 ms moderate load', notes: `${achieved}; max ${r.max.toFixed(2)} ms` });
    }
  } finally {
    await cluster.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
