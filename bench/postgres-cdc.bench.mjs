// connectors.postgresSource (CDC) throughput beside the raw client library doing the same work in
// the same run against the same PostgreSQL (issue 22's budget: >= 0.7 of raw): both consume the
// same changes (N inserts in transactions of 1000) from their own logical replication slot,
// created before the changes were written, with pgoutput over pg-logical-replication. Raw: the
// library's service, flow control on, counting insert messages, acknowledging every 20 000. Source: open() (no snapshot),
// read(1000) polled as the source runner does, onCommit every 20 000 records (the slot's
// acknowledgement), until it has delivered all N records.
//
// Run: node bench/postgres-cdc.bench.mjs [--rows N] (writes bench/results/postgres-cdc-latest.json).
// The server comes from the tests' launcher (test/servers/postgres.ts), transpiled with esbuild.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import { connectors } from '@sluice/engine';
import { report } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf('--rows');
const ROWS = at >= 0 ? Number(args[at + 1]) : Number(process.env.SLUICE_BENCH_PG_ROWS ?? 200_000);
const TX = 1000;
const ROUNDS = 3;
const COMMIT_EVERY = 20_000;

// bundled (it imports launch-util.ts), its npm imports left to node_modules
const launcherJs = join(here, '..', 'node_modules', '.cache', 'sluice-bench', 'postgres-cdc-launcher.mjs');
await build({ entryPoints: [join(here, '..', 'test', 'servers', 'postgres.ts')], outfile: launcherJs, format: 'esm', platform: 'node', bundle: true, packages: 'external', logLevel: 'error' });
const { postgresAvailable, startPostgres } = await import(pathToFileURL(launcherJs).href);
if (!postgresAvailable().ok) {
  process.stderr.write(`postgres cdc bench NOT RUN: missing ${postgresAvailable().missing.join(', ')}\n`);
  process.exit(process.env.SLUICE_REQUIRE_POSTGRES === '1' ? 1 : 0);
}

/** The raw library: its replication service on the slot, until it has seen ROWS inserts. */
async function raw(url, slot) {
  // acknowledged like the source (every COMMIT_EVERY records), not per message as auto mode does
  const svc = new LogicalReplicationService({ connectionString: url }, { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } });
  let n = 0;
  const t0 = performance.now();
  const done = new Promise((resolve) => {
    svc.on('data', (lsn, msg) => {
      if (msg.tag !== 'insert') return;
      if (++n % COMMIT_EVERY === 0) void svc.acknowledge(lsn);
      if (n === ROWS) resolve();
    });
  });
  svc.on('error', () => {});
  void svc.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: ['bench_pub'] }), slot).catch(() => {});
  await done;
  const s = (performance.now() - t0) / 1000;
  await svc.destroy();
  return ROWS / s;
}

/** The source through its hooks, as the source runner drives it. */
async function source(url, slot) {
  const task = connectors.postgresSource({ url, publication: 'bench_pub', slot, snapshot: false })();
  const noop = () => {};
  const ctx = { appId: 'bench', taskId: 'cdc.0', processor: 'cdc', index: 0, parallelism: 1, config: undefined, logger: { debug: noop, info: noop, warn: noop, error: noop }, blobs: {}, emit: noop };
  const t0 = performance.now();
  await task.open(ctx, undefined);
  let n = 0;
  let nextCommit = COMMIT_EVERY;
  let t = 0;
  while (n < ROWS) {
    const got = task.read(1000);
    n += got.length;
    if (n >= nextCommit) {
      nextCommit += COMMIT_EVERY;
      await task.onCommit(++t, task.position());
    }
    if (got.length === 0) await new Promise((r) => setTimeout(r, 1));
    else await new Promise((r) => setImmediate(r));
  }
  const s = (performance.now() - t0) / 1000;
  await task.close();
  return ROWS / s;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const server = await startPostgres();
const lines = [];
try {
  await server.sql('CREATE TABLE bench (id bigint PRIMARY KEY, word text NOT NULL, n int NOT NULL)');
  await server.sql('CREATE PUBLICATION bench_pub FOR TABLE bench');
  const rawRates = [];
  const srcRates = [];
  for (let r = 0; r < ROUNDS; r++) {
    await server.sql(`SELECT pg_create_logical_replication_slot('raw_${r}', 'pgoutput')`);
    await server.sql(`SELECT pg_create_logical_replication_slot('src_${r}', 'pgoutput')`);
    for (let i = 0; i < ROWS; i += TX) await server.sql(`INSERT INTO bench SELECT g, 'w' || (g % 5000), g % 97 FROM generate_series(${r * ROWS + i + 1}, ${r * ROWS + i + TX}) g`);
    // alternate the order, so drift on the shared machine hits both alike
    if (r % 2 === 0) {
      rawRates.push(await raw(server.url(), `raw_${r}`));
      srcRates.push(await source(server.url(), `src_${r}`));
    } else {
      srcRates.push(await source(server.url(), `src_${r}`));
      rawRates.push(await raw(server.url(), `raw_${r}`));
    }
    await server.sql(`SELECT pg_drop_replication_slot('raw_${r}')`);
    await server.sql(`SELECT pg_drop_replication_slot('src_${r}')`);
  }
  lines.push(report({
    name: `postgresSource CDC (pgoutput), ${TX} inserts per transaction`,
    value: median(srcRates), unit: 'records/s',
    baseline: `raw pg-logical-replication service (pgoutput, flow control, acknowledged every ${COMMIT_EVERY}) on its own slot, the same changes`,
    baselineValue: median(rawRates), goal: '>= 0.7x',
    notes: `${ROWS} inserts (bigint, text, int), median of ${ROUNDS} alternating rounds, ${cpus().length} cpus, fsync off; source rounds ${srcRates.map(Math.round).join('/')}, raw ${rawRates.map(Math.round).join('/')}; the source includes open(), read(1000) polling and onCommit every ${COMMIT_EVERY}`,
  }));
} finally {
  await server.close();
}
const file = join(here, 'results', 'postgres-cdc-latest.json');
await mkdir(dirname(file), { recursive: true });
await writeFile(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, results: lines.map((l) => ({ file: 'postgres-cdc.bench.mjs', ...l })) }, null, 2) + '\n');
