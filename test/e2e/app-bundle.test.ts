// An app folder with a TypeScript entry and two npm dependencies (test/cli/fixtures/bundle-app.ts),
// submitted as a folder, bundled by the CLI and run exactly once on a local cluster, on fs
// and on S3 (s3rver behind the conditional-write shim): an executor is SIGKILLed after the
// first committed checkpoint and the committed output must equal the reference computed
// here. On fs, `sluice bundle -o` output submits with the same digest as the folder.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { startS3rver, type S3rverHandle } from '../servers/s3rver.js';
import { api, cli, Proc, waitFor, writeClusterYaml, writeWords, useLocalAdminToken } from './helpers/engine-cluster.js';
import { referenceLabels, writeBundleApp } from '../cli/fixtures/bundle-app.js';

const cleanups: Array<() => Promise<void>> = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function localCluster(prefix: string, storageYaml?: string): Promise<{ dir: string; addr: string }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeClusterYaml(join(dir, 'cluster.yaml'), storageYaml);
  const local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '2'], { cwd: dir });
  cleanups.push(async () => {
    await local.stop();
    // SLUICE_KEEP_TEST_DIR=1 keeps the store, logs and output for a post-mortem.
    if (!process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });
  const addr = (await local.line(/master on (\S+),/, 30_000))[1]!;
  useLocalAdminToken(dir);
  return { dir, addr };
}

interface Submitted {
  appId: string;
  sha256: string;
  size: number;
}

/** Submits, kills one executor after the first committed checkpoint, waits for the end; returns the final status. */
async function runKilled(dir: string, addr: string, artifact: string, output: string, input: string): Promise<Submitted> {
  const base = `http://${addr}`;
  const sub = await cli(['submit', artifact, '--master', addr, '--json', '--config', `input=${input}`, '--config', `output=${output}`,
    '--config', 'executors=2', '--config', 'checkpoint=300ms', '--config', 'linesPerSec=1500'], dir);
  expect(sub.code, sub.stderr).toBe(0);
  const r = JSON.parse(sub.stdout) as Submitted;
  let seen: unknown;
  const victim = await waitFor('a committed checkpoint', 100_000, async () => {
    const a = await api(base, 'GET', `/apps/${r.appId}`);
    seen = a;
    if (a.status !== 'running') throw new Error(`app ${a.status}: ${a.error}`);
    if (!(a.appMaster?.committed > 0 && a.appMaster.phase === 'running')) return undefined;
    return (a.executors as Array<{ role: string; pid: number }>).find((e) => e.role === 'executor');
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last app status: ${JSON.stringify(seen)}`);
  });
  process.kill(victim.pid, 'SIGKILL');
  const end = await waitFor('the app to finish', 90_000, async () => {
    const a = await api(base, 'GET', `/apps/${r.appId}`);
    return ['running', 'pending'].includes(a.status) ? undefined : a;
  }, 300);
  expect(end.status, end.error).toBe('stopped');
  expect(end.epoch).toBeGreaterThanOrEqual(2);
  return r;
}

/** Files named `<sha256>.mjs` anywhere under the workers' cache folder. */
function cachedCopies(root: string, sha256: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (f === `${sha256}.mjs`) out.push(p);
      else if (depth < 6 && statSync(p).isDirectory()) walk(p, depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

describe('bundled app (TypeScript, two npm dependencies) runs exactly once', () => {
  it('on fs: submitted as a folder, an executor killed midway; bundle -o output submits with the same digest; a lone .ts file runs too', async () => {
    const { dir, addr } = await localCluster('sluice-e2e-bundle-fs-');
    const app = writeBundleApp(join(dir, 'my-app'));
    const input = join(dir, 'words.txt');
    writeWords(input, 6000, 5);
    const want = referenceLabels(readFileSync(input, 'utf8'));

    const first = await runKilled(dir, addr, app, join(dir, 'out-folder'), input);
    expect(readCommittedOutput(join(dir, 'out-folder'))).toEqual(want);

    const b = await cli(['bundle', app, '-o', join(dir, 'ci.mjs'), '--json'], dir);
    expect(b.code, b.stderr).toBe(0);
    expect((JSON.parse(b.stdout) as { sha256: string }).sha256).toBe(first.sha256);
    // Workers cache artifacts by digest (runtime/artifact.ts): a fetch writes a new file
    // (temp + rename, a new inode), a hit only touches its mtime.
    const before = new Map(cachedCopies(join(dir, 'workers'), first.sha256).map((c) => [c, statSync(c)]));
    expect(before.size).toBeGreaterThanOrEqual(1);
    const second = await runKilled(dir, addr, join(dir, 'ci.mjs'), join(dir, 'out-file'), input);
    expect(second).toMatchObject({ sha256: first.sha256, size: first.size });
    expect(second.appId).not.toBe(first.appId);
    expect(readCommittedOutput(join(dir, 'out-file'))).toEqual(want);
    let reused = 0;
    for (const [c, st] of before) {
      const now = statSync(c);
      expect(now.ino, `${c} was fetched again`).toBe(st.ino);
      if (now.mtimeMs > st.mtimeMs) reused++;
    }
    expect(reused, 'the second app ran from the first one\'s cached copy').toBeGreaterThanOrEqual(1);

    // A single .ts file is bundled at submit too (its imports resolve from the folder's node_modules above it).
    await runKilled(dir, addr, join(app, 'src', 'index.ts'), join(dir, 'out-ts'), input);
    expect(readCommittedOutput(join(dir, 'out-ts'))).toEqual(want);
  }, 300_000);

  it('on S3 (s3rver): submitted as a folder, an executor killed midway', async () => {
    const s3: S3rverHandle = await startS3rver({ shim: true });
    cleanups.push(() => s3.stop());
    const { dir, addr } = await localCluster('sluice-e2e-bundle-s3-', [
      '  default:',
      "    module: '@sluice/storage-s3'",
      '    options:',
      '      bucket: sluice-bundle',
      `      endpoint: '${s3.endpoint}'`,
      `      region: ${s3.region}`,
      '      forcePathStyle: true',
      '      createBucket: true',
      '      checksums: WHEN_REQUIRED',
      '      credentials:',
      `        accessKeyId: ${s3.accessKeyId}`,
      `        secretAccessKey: ${s3.secretAccessKey}`,
      '',
    ].join('\n'));
    const app = writeBundleApp(join(dir, 'my-app'));
    const input = join(dir, 'words.txt');
    writeWords(input, 6000, 9);
    await runKilled(dir, addr, app, join(dir, 'out'), input);
    expect(readCommittedOutput(join(dir, 'out'))).toEqual(referenceLabels(readFileSync(input, 'utf8')));
  }, 300_000);
});
