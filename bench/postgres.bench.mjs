// connectors.postgresSink throughput beside the raw pg client doing the same multi-row INSERTs, in
// the same run against the same PostgreSQL (issue 22's budget: >= 0.7 of raw). Both write the
// same rows, 1000 per INSERT (the same prepared statement text), one transaction per checkpoint
// of CHECKPOINT_ROWS rows. The sink does that through its hooks as the runtime calls them —
// onNext in batches of 1000, onClock, snapshot() (the JSON the checkpoint holds), onCommit —
// plus its progress-row lock and update in each transaction. Append and upsert mode.
//
// Run: node bench/postgres.bench.mjs [--rows N] (writes bench/results/postgres-latest.json).
// The server comes from the tests' launcher (test/servers/postgres.ts), transpiled with esbuild.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import pg from 'pg';
import { connectors } from '@sluice/engine';
import { report } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf('--rows');
const ROWS = at >= 0 ? Number(args[at + 1]) : Number(process.env.SLUICE_BENCH_PG_ROWS ?? 200_000);
const CHECKPOINT_ROWS = 20_000;
const BATCH = 1000;
const ROUNDS = 3;
const KEYS = 50_000;

// Inside the repo's node_modules so the launcher's `import pg` resolves; bundled: it imports launch-util.ts.
const launcherJs = join(here, '..', 'node_modules', '.cache', 'sluice-bench', 'postgres-launcher.mjs');
await build({ entryPoints: [join(here, '..', 'test', 'servers', 'postgres.ts')], outfile: launcherJs, format: 'esm', platform: 'node', bundle: true, packages: 'external', logLevel: 'error' });
const { postgresAvailable, startPostgres } = await import(pathToFileURL(launcherJs).href);
if (!postgresAvailable().ok) {
  process.stderr.write(`postgres bench NOT RUN: missing ${postgresAvailable().missing.join(', ')}\n`);
  process.exit(process.env.SLUICE_REQUIRE_POSTGRES === '1' ? 1 : 0);
}

const rows = Array.from({ length: ROWS }, (_, i) => [`k${(i * 7919) % KEYS}`, i]);
const chunks = [];
for (let i = 0; i < ROWS; i += BATCH) chunks.push(rows.slice(i, i + BATCH));

const insertText = (n, upsert) => {
  const v = [];
  for (let r = 0; r < n; r++) v.push(`($${2 * r + 1}, $${2 * r + 2})`);
  return `INSERT INTO "bench" ("word", "n") VALUES ${v.join(', ')}${upsert ? ' ON CONFLICT ("word") DO UPDATE SET "n" = EXCLUDED."n"' : ''}`;
};

/** The raw client: per checkpoint BEGIN, the chunks as prepared multi-row INSERTs, COMMIT. */
async function raw(url, upsert) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const text = insertText(BATCH, upsert);
  const t0 = performance.now();
  const perCheckpoint = CHECKPOINT_ROWS / BATCH;
  for (let i = 0; i < chunks.length; i += perCheckpoint) {
    await c.query('BEGIN');
    for (const chunk of chunks.slice(i, i + perCheckpoint)) {
      let batch = chunk;
      if (upsert) {
        // one statement may not upsert a key twice: the last row per key, as the sink does
        const last = new Map();
        for (const r of chunk) last.set(r[0], r);
        batch = [...last.values()];
      }
      const values = batch.flat();
      await c.query(batch.length === BATCH ? { name: `raw_${upsert}`, text, values } : { text: insertText(batch.length, upsert), values });
    }
    await c.query('COMMIT');
  }
  const s = (performance.now() - t0) / 1000;
  await c.end();
  return ROWS / s;
}

/** The sink through its hooks; each checkpoint is committed at once (the AppMaster's part is not measured). */
async function sink(url, upsert, run) {
  const task = connectors.postgresSink({ url, table: 'bench', columns: ['word', 'n'], ...(upsert ? { key: ['word'] } : {}), batchRows: BATCH })();
  const noop = () => {};
  const ctx = { appId: `bench-${run}`, taskId: 'out.0', processor: 'out', index: 0, parallelism: 1, config: undefined, epoch: 1, logger: { debug: noop, info: noop, warn: noop, error: noop }, blobs: {}, emit: noop };
  await task.onRecover(undefined, ctx);
  await task.onStart(ctx);
  let t = 0;
  let bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < chunks.length; i++) {
    task.onNext(chunks[i], t, ctx);
    if (((i + 1) * BATCH) % CHECKPOINT_ROWS === 0 || i === chunks.length - 1) {
      t += 100;
      task.onClock(t, ctx);
      bytes += JSON.stringify(task.snapshot()).length;
      await task.onCommit(t, ctx);
    }
  }
  const s = (performance.now() - t0) / 1000;
  await task.onStop(ctx);
  return { rate: ROWS / s, snapshotBytes: bytes };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const server = await startPostgres();
const lines = [];
try {
  for (const upsert of [false, true]) {
    await server.sql(`DROP TABLE IF EXISTS bench; CREATE TABLE bench (word text ${upsert ? 'PRIMARY KEY' : 'NOT NULL'}, n bigint NOT NULL)`);
    const rawRates = [];
    const sinkRates = [];
    let snapshotBytes = 0;
    // alternate, so drift on the shared machine hits both alike
    for (let r = 0; r < ROUNDS; r++) {
      await server.sql('TRUNCATE bench');
      rawRates.push(await raw(server.url(), upsert));
      await server.sql('TRUNCATE bench');
      const s = await sink(server.url(), upsert, `${upsert}-${r}`);
      sinkRates.push(s.rate);
      snapshotBytes = s.snapshotBytes;
      const n = Number((await server.sql(upsert ? 'SELECT count(*) AS n FROM bench' : 'SELECT count(*) AS n FROM bench')).rows[0].n);
      if (n !== (upsert ? Math.min(KEYS, ROWS) : ROWS)) throw new Error(`the sink wrote ${n} rows`);
    }
    lines.push(report({
      name: `postgresSink ${upsert ? 'upsert (key word)' : 'append'}, ${CHECKPOINT_ROWS} rows per checkpoint`,
      value: median(sinkRates), unit: 'rows/s',
      baseline: `raw pg multi-row INSERT${upsert ? ' … ON CONFLICT DO UPDATE' : ''}, ${BATCH} rows per statement, one transaction per ${CHECKPOINT_ROWS} rows`,
      baselineValue: median(rawRates), goal: '>= 0.7x',
      notes: `${ROWS} rows (text, bigint), median of ${ROUNDS} alternating rounds, ${cpus().length} cpus, fsync off; sink rounds ${sinkRates.map(Math.round).join('/')}, raw ${rawRates.map(Math.round).join('/')}; includes snapshot() JSON (${Math.round(snapshotBytes / 1024)} KiB over the run)`,
    }));
  }
} finally {
  await server.close();
}
const file = join(here, 'results', 'postgres-latest.json');
await mkdir(dirname(file), { recursive: true });
await writeFile(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, results: lines.map((l) => ({ file: 'postgres.bench.mjs', ...l })) }, null, 2) + '\n');
