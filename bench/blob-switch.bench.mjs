// Live blob updates: time from `blobs update` (the upload starting) to the event-time
// boundary at which every executor of a running app uses the new version (the AppMaster's
// status names it), for 2 and 16 executors (BENCH_BLOB_EXECUTORS=2,16), on a local fs
// cluster with worker.blobPollMs=500 and 300 ms checkpoints. Baseline, same update, same
// run: a bare loop in this process polling the blob's head at the same interval (the
// detection floor any poller has). Median of 3 updates each. `node bench/run.mjs blob-switch`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalCluster } from '../packages/engine/dist/cluster/local-cluster.js';
import { loadClusterConfig } from '../packages/engine/dist/config/cluster-config.js';
import { uploadArtifact } from '../packages/engine/dist/cluster/client.js';
import { uploadBlob } from '../packages/engine/dist/cluster/blob-client.js';
import { callJson } from '../packages/engine/dist/cluster/http.js';
import { report } from './lib.mjs';

const TAGGER = fileURLToPath(new URL('../test/e2e/fixtures/blob-tagger.mjs', import.meta.url));
const POLL_MS = 500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const med = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

async function run(executors) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-blob-switch-'));
  writeFileSync(join(dir, 'cluster.yaml'), [
    'storage:', '  default:', "    module: '@sluice/storage-fs'", '    options:', '      root: ./store',
    'master:', '  host: 127.0.0.1', '  port: 0', '  seedFile: ./seed.json',
    'worker:', '  cacheDir: ./workers', '  heartbeatMs: 200', `  slots: ${executors + 2}`, `  blobPollMs: ${POLL_MS}`,
    'auth:', '  enabled: false', '',
  ].join('\n'));
  process.env.SLUICE_LOG_LEVEL = 'warn';
  process.env.SLUICE_LOG_FILE = join(dir, 'cluster.log');
  const cluster = await startLocalCluster(await loadClusterConfig(join(dir, 'cluster.yaml')), { workers: 1 });
  const master = `http://${cluster.address}`;
  const ep = { url: master };
  try {
    const file = (v) => {
      const p = join(dir, `dict-${v}.txt`);
      writeFileSync(p, `tag-${v}\n`);
      return p;
    };
    await uploadBlob(ep, 'POST', 'dict', file(1), {});
    const input = join(dir, 'lines.txt');
    writeFileSync(input, Array.from({ length: 200_000 }, (_, i) => `k${i}`).join('\n') + '\n');
    const { appId } = await uploadArtifact(master, TAGGER, 'bench-blob-switch', {
      input, output: join(dir, 'out'), executors, parallelism: Math.min(executors, 4), linesPerSec: 2000, checkpointIntervalMs: 300,
      blobs: JSON.stringify({ dict: { localName: 'dict.txt', uncompress: false } }),
    });
    const blobOf = async () => (await callJson(master, 'GET', `/apps/${appId}`)).appMaster?.blobs?.[0];
    const allAt = (b, v) => b && b.version === v && Object.keys(b.executors).length === executors && Object.values(b.executors).every((x) => x === v);
    for (let i = 0; i < 1200 && !allAt(await blobOf(), 1); i++) await sleep(100);
    if (!allAt(await blobOf(), 1)) throw new Error(`${executors} executors never all reported v1`);
    const ours = [];
    const base = [];
    for (let v = 2; v <= 4; v++) {
      const t0 = Date.now();
      // The baseline poller: the same interval, phase-shifted like an executor's would be.
      const baseline = (async () => {
        await sleep(Math.random() * POLL_MS);
        for (let i = 0; i < 600; i++) {
          const h = await callJson(master, 'GET', '/blobs/dict');
          if (h.version >= v) return Date.now() - t0;
          await sleep(POLL_MS);
        }
        throw new Error('baseline poller never saw the update');
      })();
      await uploadBlob(ep, 'PUT', 'dict', file(v), {});
      let b;
      for (let i = 0; i < 1200; i++) {
        b = await blobOf();
        if (allAt(b, v) && b.from !== undefined) break;
        await sleep(50);
      }
      if (!allAt(b, v)) throw new Error(`v${v} never reached all ${executors} executors`);
      ours.push(b.from - t0);
      base.push(await baseline);
    }
    report({
      name: `blobs update -> every executor on the new version (${executors} executors)`, value: med(ours), unit: 'ms', baseline: `bare head poll every ${POLL_MS} ms (same update)`,
      baselineValue: med(base), higherIsBetter: false, goal: '<= blobPollMs + 3 checkpoint intervals + 1 s',
      notes: 'value = switch boundary B (event time) minus the update start; includes the upload, detection, fetch on every executor, the master r re-check and the two-phase switch',
    });
  } finally {
    await cluster.stop();
    if (!process.env.SLUICE_KEEP_BENCH_DIR) rmSync(dir, { recursive: true, force: true });
  }
}

for (const n of (process.env.BENCH_BLOB_EXECUTORS ?? '2,16').split(',').map(Number)) await run(n);
