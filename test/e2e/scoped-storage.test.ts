// Scoped storage for app code (issue 21): a hostile app on a real local cluster over S3
// (s3rver) searches its environment, /proc/self/environ, every file under its worker's
// folder and its own heap for the S3 keys, the cluster secret and daemon tokens, and tries
// another app's store through the executor's own proxy socket. With the storage proxy (the
// default) it finds nothing and is refused (STORAGE_PERMISSION_DENIED); the same app on a
// cluster with `worker.storageProxy: false` finds the S3 key in its environment (the search
// works). Its word count is exact either way.
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommittedOutput } from '@sluice/engine';
import { cli, credentials, Proc, referenceCount, useLocalAdminToken, waitFor, WORD_COUNT, writeWords } from './helpers/engine-cluster.js';
import { startS3rver, type S3rverHandle } from '../servers/s3rver.js';

const HUNTER = resolve(import.meta.dirname, 'fixtures/credential-hunter.mjs');

let s3: S3rverHandle;
beforeAll(async () => {
  // The shim enforces conditional writes, as the S3 backend requires of a shared store.
  s3 = await startS3rver({ shim: true });
}, 60_000);
afterAll(async () => {
  await s3?.stop();
});

function clusterYaml(bucket: string, proxy: boolean): string {
  return [
    'storage:',
    '  default:',
    "    module: '@sluice/storage-s3'",
    '    options:',
    `      bucket: ${bucket}`,
    `      endpoint: '${s3.endpoint}'`,
    '      region: us-east-1',
    '      forcePathStyle: true',
    '      createBucket: true',
    '      checksums: WHEN_REQUIRED',
    '      credentials:',
    `        accessKeyId: ${s3.accessKeyId}`,
    `        secretAccessKey: ${s3.secretAccessKey}`,
    'master: { host: 127.0.0.1, port: 0, seedFile: ./master/seed.json }',
    `worker: { cacheDir: ./workers, heartbeatMs: 200, storageProxy: ${proxy} }`,
    '',
  ].join('\n');
}

interface Cluster {
  dir: string;
  addr: string;
  local: Proc;
}

async function startCluster(prefix: string, proxy: boolean): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'cluster.yaml'), clusterYaml(`${prefix.replace(/[^a-z]/g, '')}${Date.now()}`, proxy));
  const local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '1'], { cwd: dir });
  const addr = (await local.line(/master on (\S+),/, 30_000))[1]!;
  useLocalAdminToken(dir);
  return { dir, addr, local };
}

async function stopCluster(c: Cluster | undefined): Promise<void> {
  if (!c) return;
  await c.local.stop();
  if (!process.env.SLUICE_KEEP_TEST_DIR) rmSync(c.dir, { recursive: true, force: true });
}

async function api(c: Cluster, path: string): Promise<{ status: string }> {
  const res = await fetch(`http://${c.addr}${path}`, { headers: { authorization: `Bearer ${credentials.token}` } });
  return (await res.json()) as { status: string };
}

async function runToEnd(c: Cluster, app: string, config: string[]): Promise<string> {
  const sub = await cli(['submit', app, '--master', c.addr, '--json', ...config.flatMap((x) => ['--config', x])], c.dir);
  expect(sub.code, sub.stderr).toBe(0);
  const appId = (JSON.parse(sub.stdout) as { appId: string }).appId;
  const end = await waitFor(`app ${appId} to end`, 120_000, async () => {
    const a = await api(c, `/apps/${appId}`);
    return ['running', 'pending'].includes(a.status) ? undefined : a;
  });
  expect(end.status).toBe('stopped');
  return appId;
}

/** Runs a victim app, then the hunter; returns the hunter's report folder and the cluster's secrets. */
async function hunt(c: Cluster): Promise<{ report: string; victim: string; hunter: string; secrets: Record<string, string> }> {
  const input = join(c.dir, 'words.txt');
  writeWords(input, 2000);
  const victim = await runToEnd(c, WORD_COUNT, [`input=${input}`, `output=${join(c.dir, 'victim-out')}`, 'executors=1']);
  const report = join(c.dir, 'report');
  const output = join(c.dir, 'hunter-out');
  const hunter = await runToEnd(c, HUNTER, [`input=${input}`, `output=${output}`, `report=${report}`, `victim=${victim}`, 'executors=2']);
  expect(readCommittedOutput(output)).toEqual(await referenceCount(readFileSync(input, 'utf8')));
  const clusterSecret = readFileSync(join(c.dir, '.sluice', 'cluster.secret'), 'utf8').trim();
  const workerToken = `sdw1.${createHmac('sha256', Buffer.from(clusterSecret, 'hex')).update('sluice-worker-v1').digest('base64url')}`;
  return { report, victim, hunter, secrets: { s3SecretAccessKey: s3.secretAccessKey, s3AccessKeyId: s3.accessKeyId, clusterSecret, workerToken } };
}

/** What the hunter's report files (env, files, heap of each process) contain of each secret. */
function findings(report: string, secrets: Record<string, string>, allowOwnToken: RegExp): string[] {
  const found: string[] = [];
  for (const f of readdirSync(report)) {
    if (f.endsWith('.attempts.json')) continue;
    const text = readFileSync(join(report, f), 'latin1');
    for (const [name, value] of Object.entries(secrets)) if (text.includes(value)) found.push(`${f}: ${name}`);
    // App daemon tokens: none at all in an executor; in the AppMaster's heap only its own (it calls the master).
    for (const m of text.matchAll(/sda1\.[a-z]+\.[A-Za-z0-9._-]+\.\d+\.[A-Za-z0-9_-]{20,}/g)) {
      if (!(f.startsWith('appmaster-') && f.endsWith('.heapsnapshot') && allowOwnToken.test(m[0]))) found.push(`${f}: app daemon token ${m[0].slice(0, 40)}…`);
    }
  }
  return [...new Set(found)];
}

describe('scoped storage: app code without the cluster credentials (S3 on s3rver)', () => {
  let c: Cluster | undefined;
  afterAll(() => stopCluster(c));

  it('a credential-hunting app finds nothing and is refused another app\'s store; its count is exact', async () => {
    c = await startCluster('sluice-scoped-', true);
    const { report, hunter, secrets } = await hunt(c);
    const files = readdirSync(report);
    // The AppMaster and both executors ran the hunt, each with a heap snapshot.
    expect(files.filter((f) => f.startsWith('appmaster-') && f.endsWith('.heapsnapshot'))).toHaveLength(1);
    expect(files.filter((f) => f.startsWith('executor-') && f.endsWith('.heapsnapshot')).length).toBeGreaterThanOrEqual(2);
    // The file search read the worker's folder (its cache holds the artifacts, its logs the executors').
    const dumps = files.filter((f) => f.endsWith('.files.txt')).map((f) => readFileSync(join(report, f), 'utf8'));
    expect(dumps.every((d) => d.includes('==== ') && d.includes('.log'))).toBe(true);
    expect(findings(report, secrets, new RegExp(`^sda1\\.appmaster\\.${hunter.replace(/[.]/g, '\\.')}\\.`))).toEqual([]);
    for (const f of files.filter((x) => x.endsWith('.attempts.json'))) {
      const a = JSON.parse(readFileSync(join(report, f), 'utf8')) as Record<string, unknown>;
      expect(a, f).toEqual({
        socketFound: true, ownApp: 'ok', victimApp: 'STORAGE_PERMISSION_DENIED', listApps: 'STORAGE_PERMISSION_DENIED',
        deleteVictim: 'STORAGE_PERMISSION_DENIED', createApp: 'STORAGE_PERMISSION_DENIED', listBlobs: 'STORAGE_PERMISSION_DENIED',
      });
    }
  }, 300_000);
});

describe('control: the same hunt with worker.storageProxy: false', () => {
  let c: Cluster | undefined;
  afterAll(() => stopCluster(c));

  it('finds the S3 key in the executors\' environment (the search is real)', async () => {
    c = await startCluster('sluice-unscoped-', false);
    const { report, secrets } = await hunt(c);
    const found = findings(report, { s3SecretAccessKey: secrets.s3SecretAccessKey! }, /^$/);
    expect(found.some((f) => /^executor-.*\.env\.txt: s3SecretAccessKey$/.test(f))).toBe(true);
    expect(found.some((f) => /^executor-.*\.heapsnapshot: s3SecretAccessKey$/.test(f))).toBe(true);
  }, 300_000);
});
