import type { Command } from 'commander';
import { z } from 'zod';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadClusterConfig } from '../config/cluster-config.js';
import { startLocalCluster, type LocalCluster } from '../cluster/local-cluster.js';
import { callJson, parseReply } from '../cluster/http.js';
import { ensureLocalAdmin } from '../security/auth-setup.js';
import { cliEndpoint } from '../security/credentials.js';
import { uploadArtifact } from '../cluster/client.js';
import { readCommittedOutput } from '../connectors/file-sink.js';
import { run, write } from './exit.js';

const EXAMPLE_DIR = fileURLToPath(new URL('../../examples/word-count/', import.meta.url));

const CLUSTER_YAML = `# Written by \`sluice demo\`: a local cluster on the embedded fs store in this folder.
storage:
  default:
    module: '@sluice/storage-fs'
    options:
      root: '.'
master:
  host: 127.0.0.1
  port: 0
  seedFile: ./master/seed.json
worker:
  cacheDir: ./workers
  heartbeatMs: 200
`;

/** The demo cannot go on (the app ended early or failed): stop polling at once. */
class DemoAbort extends Error {}

async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const v = await fn().catch((err: unknown) => {
      if (err instanceof DemoAbort) throw err;
      return undefined; // a transient failure (master busy): ask again
    });
    if (v !== undefined) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * `sluice demo`: local cluster on the fs store, word count over a bundled text, one
 * executor killed midway, exact counts checked against a direct reference count.
 */
export async function runDemo(options: { dir: string; copies: number; linesPerSec: number; keepRunning?: boolean; port?: number }): Promise<boolean> {
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const yamlPath = join(dir, 'cluster.yaml');
  writeFileSync(yamlPath, CLUSTER_YAML);
  const loaded = await loadClusterConfig(yamlPath);
  const text = readFileSync(join(EXAMPLE_DIR, 'tale-of-two-cities.txt'), 'utf8');
  const work = join(dir, 'demo');
  const input = join(work, 'input.txt');
  const output = join(work, `output-${Date.now()}`);
  mkdirSync(work, { recursive: true });
  writeFileSync(input, text.repeat(options.copies));
  const { tokenize } = (await import(pathToFileURL(join(EXAMPLE_DIR, 'word-count.mjs')).href)) as { tokenize: (l: string) => string[] };
  const reference = new Map<string, number>();
  let words = 0;
  for (const l of readFileSync(input, 'utf8').split('\n')) for (const w of tokenize(l)) {
    reference.set(w, (reference.get(w) ?? 0) + 1);
    words++;
  }

  process.env.SLUICE_LOG_FILE ??= join(work, 'cluster.log');
  write(`starting a local cluster (master + 2 workers) on the fs store in ${dir}`);
  // Auth is on: the demo's admin token lands in <folder>/admin.token (0600), where the CLI finds it.
  await ensureLocalAdmin(loaded);
  const cluster: LocalCluster = await startLocalCluster(loaded, { workers: 2, ...(options.port === undefined ? {} : { port: options.port }) });
  const dashboard = `http://${cluster.address}/ui/`;
  const master = await cliEndpoint(cluster.address, loaded);
  // What the demo reads of the master's app view.
  const appSchema = z.looseObject({
    status: z.string(),
    error: z.unknown().optional(),
    epoch: z.number().optional(),
    appMaster: z.looseObject({ commits: z.number().optional() }).nullish(),
    executors: z.array(z.looseObject({ role: z.string(), pid: z.number(), executor: z.number() })).optional(),
  });
  const getApp = async (appId: string) => parseReply(appSchema, await callJson(master, 'GET', `/apps/${appId}`), 'GET /apps/:id');
  const errorOf = (e: unknown): string => (e === undefined || e === null ? '' : typeof e === 'string' ? e : JSON.stringify(e));
  let exact: boolean;
  try {
    write(`master on ${cluster.address}; submitting word count over ${words} words (${options.copies} copies of the bundled text)`);
    const { appId } = await uploadArtifact(master, join(EXAMPLE_DIR, 'word-count.mjs'), 'word-count', {
      input, output, executors: 2, linesPerSec: options.linesPerSec, checkpointIntervalMs: 500,
    });
    write(`app ${appId} submitted; watch it at ${dashboard}#/apps/${encodeURIComponent(appId)} (log in with the token in ${join(dir, 'admin.token')})`);
    const victim = await poll('the first checkpoint', 60_000, async () => {
      const a = await getApp(appId);
      if (a.status !== 'running' && a.status !== 'pending') throw new DemoAbort(`app is ${a.status} before the first checkpoints${a.error ? `: ${errorOf(a.error)}` : ''} (more --copies or fewer --lines-per-sec give it time)`);
      if (!((a.appMaster?.commits ?? 0) >= 2)) return undefined;
      return (a.executors ?? []).find((e) => e.role === 'executor');
    });
    process.kill(victim.pid, 'SIGKILL');
    write(`killed executor ${victim.executor} (pid ${victim.pid}) with SIGKILL midway; the AppMaster restores from the last checkpoint`);
    const final = await poll('the app to finish', 180_000, async () => {
      const a = await getApp(appId);
      if (a.status === 'failed' || a.status === 'killed') throw new DemoAbort(`app ${a.status}: ${errorOf(a.error)}`);
      return a.status === 'stopped' ? a : undefined;
    });
    const got = readCommittedOutput(output);
    const diffs: string[] = [];
    for (const [w, n] of reference) if (got.get(w) !== String(n)) diffs.push(`${w}: expected ${n}, got ${got.get(w) ?? 'nothing'}`);
    for (const w of got.keys()) if (!reference.has(w)) diffs.push(`${w}: unexpected`);
    exact = diffs.length === 0;
    const top = [...reference].sort((a, b) => b[1] - a[1]).slice(0, 8);
    write(`top words: ${top.map(([w, n]) => `${w}=${got.get(w) ?? '?'}${got.get(w) === String(n) ? '' : `(expected ${n})`}`).join(' ')}`);
    write(exact ? `EXACT: all ${reference.size} distinct words (${words} words) match the reference count after the kill (epoch ${final.epoch})` : `MISMATCH in ${diffs.length} words:\n  ${diffs.slice(0, 10).join('\n  ')}`);
    write(`output:   ${output}`);
    write(`logs:     daemons in ${process.env.SLUICE_LOG_FILE}; executors in ${join(dir, 'workers')}/<worker>/logs/${appId}/ (one file per executor and epoch); sluice logs ${appId} -c ${yamlPath}`);
    write(`metrics:  in the app's metrics store under ${join(dir, 'apps', appId)}; sluice metrics ${appId} -c ${yamlPath}`);
    write(`registry: sluice apps -c ${yamlPath}`);
    if (options.keepRunning) {
      write(`dashboard: ${dashboard} (token: ${join(dir, 'admin.token')}); the cluster keeps running, Ctrl-C to stop`);
      await new Promise<void>((r) => {
        process.once('SIGINT', () => r());
        process.once('SIGTERM', () => r());
      });
    }
  } finally {
    await cluster.stop();
    rmSync(input, { force: true });
  }
  return exact;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run word count on a local cluster (fs store under ./.sluice), kill an executor midway and check the counts are exact')
    .option('--dir <dir>', 'where the store and cluster.yaml go', '.sluice')
    .option('--copies <n>', 'copies of the bundled text to count', (v: string) => Number(v), 200)
    .option('--lines-per-sec <n>', 'source throttle, so there is a "midway"', (v: string) => Number(v), 2000)
    .option('-k, --keep-running', 'keep the cluster (and its dashboard) running after the demo, until Ctrl-C')
    .option('--port <port>', 'master port (default: any free port)', (v: string) => Number(v))
    .action(async (o: { dir: string; copies: number; linesPerSec: number; keepRunning?: boolean; port?: number }) =>
      run(false, async () => {
        const ok = await runDemo({ dir: o.dir, copies: o.copies, linesPerSec: o.linesPerSec, ...(o.keepRunning ? { keepRunning: true } : {}), ...(o.port === undefined ? {} : { port: o.port }) });
        process.exitCode = ok ? 0 : 1;
      }),
    );
}
