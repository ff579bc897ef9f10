// A local cluster (master + one worker, real processes) running a long word count on the
// fs store, plus the store opened in this process. Shared by the dashboard and
// Prometheus tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openConfiguredStorage, parseStorageConfig, type Storage } from '@sluice/storage-api';
import { api, cli, Proc, waitFor, WORD_COUNT, writeClusterYaml, writeWords } from '../e2e/helpers/engine-cluster.js';
import { describeDag, DAG_CONFIG_ID } from '../../packages/engine/src/observability/dag-describe.js';
import * as engine from '../../packages/engine/src/index.js';

export interface RunningApp {
  dir: string;
  addr: string;
  appId: string;
  storage: Storage;
  master: Proc;
  workers: Proc[];
  stop(): Promise<void>;
}

/** Starts the cluster and submits a word count throttled to keep running for minutes. */
export async function startRunningWordCount(prefix: string): Promise<RunningApp> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeClusterYaml(join(dir, 'cluster.yaml'));
  const env = { SLUICE_LOG_LEVEL: 'info' };
  const master = Proc.start(['master', '-c', 'cluster.yaml'], { cwd: dir, env });
  const workers: Proc[] = [];
  let storage: Storage | undefined;
  const stop = async (): Promise<void> => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await master.stop();
    await storage?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const addr = (await master.line(/master listening on (\S+)/))[1]!;
    const w = Proc.start(['worker', '-c', 'cluster.yaml', '--master', addr, '--name', 'w1'], { cwd: dir, env });
    workers.push(w);
    await w.line(/registered/);
    const input = join(dir, 'words.txt');
    writeWords(input, 200_000);
    const sub = await cli(
      ['submit', WORD_COUNT, '--master', addr, '--json', '--config', `input=${input}`, '--config', `output=${join(dir, 'out')}`, '--config', 'executors=2', '--config', 'linesPerSec=300', '--config', 'checkpointIntervalMs=500'],
      dir,
    );
    if (sub.code !== 0) throw new Error(`submit failed: ${sub.stderr}`);
    const appId = (JSON.parse(sub.stdout) as { appId: string }).appId;
    storage = await openConfiguredStorage(parseStorageConfig({ default: { module: '@sluice/storage-fs', options: { root: join(dir, 'store') } } }), { baseDir: dir });
    await waitFor(`app ${appId} running with executors`, 60_000, async () => {
      const a = (await api(`http://${addr}`, 'GET', `/apps/${appId}`)) as { status: string; executors: unknown[] };
      return a.status === 'running' && a.executors.length >= 2 ? true : undefined;
    });
    await ensureDagStored(storage, appId, input, join(dir, 'out'));
    return { dir, addr, appId, storage, master, workers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The AppMaster stores describeDag() under `_dag` at start (the lead wires that call in
 * app-master.ts). Until it does, write the same description here, built from the same
 * artifact with the same config, so the page has what it will have in production.
 */
async function ensureDagStored(storage: Storage, appId: string, input: string, output: string): Promise<void> {
  const app = await storage.getAppStorage(appId);
  if (!app) throw new Error(`app ${appId} missing from the store`);
  try {
    if (await app.config.get(DAG_CONFIG_ID)) return;
    const mod = (await import(pathToFileURL(WORD_COUNT).href)) as { default: (s: unknown, c: unknown) => engine.Dag };
    const d = mod.default(engine, { input, output, parallelism: 2 });
    await app.config.set(DAG_CONFIG_ID, describeDag(d));
  } finally {
    await app.close();
  }
}
