// End to end on S3 (s3rver behind the conditional-write shim, from test/servers): jars,
// config, offsets and checkpoints all live in the bucket; an executor is killed midway
// and the committed word count must still be exact.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { startS3rver, type S3rverHandle } from '../servers/s3rver.js';
import { api, cli, Proc, referenceCount, waitFor, WORD_COUNT, writeClusterYaml, writeWords, useLocalAdminToken } from './helpers/engine-cluster.js';

let dir: string;
let s3: S3rverHandle;
let local: Proc;
let addr: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-s3-'));
  s3 = await startS3rver({ shim: true });
  writeClusterYaml(join(dir, 'cluster.yaml'), [
    '  default:',
    "    module: '@sluice/storage-s3'",
    '    options:',
    '      bucket: sluice-e2e',
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
  local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '2'], { cwd: dir });
  addr = (await local.line(/master on (\S+),/, 30_000))[1]!;
  useLocalAdminToken(dir);
});

afterAll(async () => {
  await local?.stop();
  await s3?.stop();
  // SLUICE_KEEP_TEST_DIR=1 keeps the store, logs and output for a post-mortem.
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

describe('engine on S3 (s3rver)', () => {
  it('runs word count with an executor killed midway and commits exact counts', async () => {
    const base = `http://${addr}`;
    const input = join(dir, 'words.txt');
    writeWords(input, 6000, 3);
    const output = join(dir, 'out');
    const sub = await cli(['submit', WORD_COUNT, '--master', addr, '--config', `input=${input}`, '--config', `output=${output}`,
      '--config', 'executors=2', '--config', 'checkpointIntervalMs=300', '--config', 'linesPerSec=1500'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const appId = sub.stdout.trim();
    // Generous: with the whole suite running on 2 cores, a failed executor start is only
    // noticed by the AppMaster's 30 s start timeout (a known limit), then retried.
    let seen: unknown;
    const victim = await waitFor('a committed checkpoint', 100_000, async () => {
      const a = await api(base, 'GET', `/apps/${appId}`);
      seen = a;
      if (a.status !== 'running') throw new Error(`app ${a.status}: ${a.error}`);
      if (!(a.appMaster?.committed > 0 && a.appMaster.phase === 'running')) return undefined;
      return (a.executors as Array<{ role: string; pid: number }>).find((e) => e.role === 'executor');
    }).catch((err: Error) => {
      // Post-mortem in the failure itself: what the master last said about the app.
      throw new Error(`${err.message}; last app status: ${JSON.stringify(seen)}`);
    });
    process.kill(victim.pid, 'SIGKILL');
    const end = await waitFor('the app to finish', 90_000, async () => {
      const a = await api(base, 'GET', `/apps/${appId}`);
      return ['running', 'pending'].includes(a.status) ? undefined : a;
    }, 300);
    expect(end.status, end.error).toBe('stopped');
    expect(end.epoch).toBeGreaterThanOrEqual(2);
    expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
  }, 240_000);
});
