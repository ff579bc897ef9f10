import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { LoadedClusterConfig } from '../config/cluster-config.js';
import { EngineError } from '../errors.js';
import { seedFileOf } from './local-cluster.js';

/**
 * `sluice local` with `master.port: 0` binds any free port; clients of the same config find
 * the real address in this run file, beside the master's seed file
 * (`<config folder>/.sluice/master/local.run.json` by default).
 */
export const runFileSchema = z.object({ pid: z.number().int().positive(), url: z.string().url(), startedAt: z.number().int().nonnegative() }).strict();
export type RunFile = z.infer<typeof runFileSchema>;

export function runFileOf(loaded: LoadedClusterConfig): string {
  return join(dirname(seedFileOf(loaded)), 'local.run.json');
}

/** Atomic (tmp + rename): a client never reads half a file. */
export async function writeRunFile(path: string, run: RunFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${run.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(run)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** Removes the run file only while it still names this process (a newer `sluice local` may own it). */
export async function removeRunFile(path: string, pid = process.pid): Promise<void> {
  const cur = await readRunFile(path).catch(() => undefined);
  if (cur?.pid === pid) await rm(path, { force: true });
}

async function readRunFile(path: string): Promise<RunFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EngineError('MASTER_UNREACHABLE', `cannot read the local cluster's run file ${path}: ${(err as Error).message}`, { cause: err, details: { runFile: path } });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  const r = runFileSchema.safeParse(doc);
  if (!r.success) throw new EngineError('LOCAL_CLUSTER_STALE', `run file ${path} is not a valid local cluster run file; remove it and start \`sluice local\` again`, { details: { runFile: path } });
  return r.data;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the pid exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The URL of the local cluster started with this config. No run file: MASTER_UNREACHABLE
 * (so commands that fall back to the store still do); a dead pid: LOCAL_CLUSTER_STALE.
 */
export async function localMasterUrl(loaded: LoadedClusterConfig): Promise<string> {
  const path = runFileOf(loaded);
  const run = await readRunFile(path);
  if (!run) {
    throw new EngineError('MASTER_UNREACHABLE', `no local cluster is running for ${loaded.path ?? 'this config'} (master.port is 0 and ${path} does not exist; start one with \`sluice local\`)`, {
      details: { runFile: path },
    });
  }
  if (!alive(run.pid)) {
    throw new EngineError('LOCAL_CLUSTER_STALE', `stale run file ${path}: the local cluster (pid ${run.pid}) is not running; start \`sluice local\` again or remove the file`, {
      details: { runFile: path, pid: run.pid },
    });
  }
  return run.url;
}
