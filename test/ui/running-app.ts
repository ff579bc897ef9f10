// A local cluster (master + one worker, real processes) running a long word count on the
// fs store, plus the store opened in this process. Shared by the dashboard and
// Prometheus tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openConfiguredStorage, parseStorageConfig, type Storage } from '@sluice/storage-api';
import { api, cli, Proc, useAdminToken, waitFor, WORD_COUNT, writeClusterYaml, writeWords } from '../e2e/helpers/engine-cluster.js';
import { DAG_CONFIG_ID } from '../../packages/engine/src/observability/dag-describe.js';

export interface RunningApp {
  dir: string;
  addr: string;
  appId: string;
  storage: Storage;
  master: Proc;
  workers: Proc[];
  /** Real users of the master's users file: alice submitted the app (owner), bob has no access. */
  tokens: { admin: string; alice: string; bob: string };
  stop(): Promise<void>;
}

async function userToken(dir: string, name: string): Promise<string> {
  const add = await cli(['auth', 'add-user', name, '-c', 'cluster.yaml'], dir);
  if (add.code !== 0) throw new Error(`add-user ${name}: ${add.stderr}`);
  const tok = await cli(['auth', 'token', name, '-c', 'cluster.yaml'], dir);
  if (tok.code !== 0) throw new Error(`token ${name}: ${tok.stderr}`);
  return tok.stdout.trim();
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
    const tokens = { admin: await useAdminToken(dir), alice: await userToken(dir, 'alice'), bob: await userToken(dir, 'bob') };
    const w = Proc.start(['worker', '-c', 'cluster.yaml', '--master', addr, '--name', 'w1'], { cwd: dir, env });
    workers.push(w);
    await w.line(/registered/);
    const input = join(dir, 'words.txt');
    writeWords(input, 200_000);
    // Submitted as alice: she owns the app; bob has no ACL entry.
    const subProc = Proc.start(
      ['submit', WORD_COUNT, '--master', addr, '--json', '--config', `input=${input}`, '--config', `output=${join(dir, 'out')}`, '--config', 'executors=2', '--config', 'linesPerSec=300', '--config', 'checkpointIntervalMs=500'],
      { cwd: dir, env: { SLUICE_TOKEN: tokens.alice } },
    );
    const code = await subProc.exited;
    if (code !== 0) throw new Error(`submit failed: ${subProc.err.join('')}`);
    const appId = (JSON.parse(subProc.out.join('\n')) as { appId: string }).appId;
    storage = await openConfiguredStorage(parseStorageConfig({ default: { module: '@sluice/storage-fs', options: { root: join(dir, 'store') } } }), { baseDir: dir });
    await waitFor(`app ${appId} running with executors`, 60_000, async () => {
      const a = (await api(`http://${addr}`, 'GET', `/apps/${appId}`)) as { status: string; executors: unknown[] };
      return a.status === 'running' && a.executors.length >= 2 ? true : undefined;
    });
    await waitFor('the AppMaster to store the DAG description', 20_000, async () => {
      const app = await storage!.getAppStorage(appId);
      try {
        return (await app?.config.get(DAG_CONFIG_ID)) ? true : undefined;
      } finally {
        await app?.close();
      }
    });
    return { dir, addr, appId, storage, master, workers, tokens, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
