// Secrets never leak: a full run with S3 credentials configured (s3rver), then every log
// file, every CLI output and every API response is searched for the credential: zero hits.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, credentials, Proc, useLocalAdminToken, waitFor, WORD_COUNT, writeWords } from '../e2e/helpers/engine-cluster.js';
import { startS3rver, type S3rverHandle } from '../servers/s3rver.js';

let s3: S3rverHandle;
let dir: string;
let local: Proc;
let addr: string;
const outputs: Array<[string, string]> = [];

function s3Yaml(endpoint: string, secret: string): string {
  return [
    'storage:',
    '  default:',
    "    module: '@sluice/storage-s3'",
    '    options:',
    '      bucket: sluice-secrets',
    `      endpoint: '${endpoint}'`,
    '      region: us-east-1',
    '      forcePathStyle: true',
    '      createBucket: true',
    '      checksums: WHEN_REQUIRED',
    '      credentials:',
    `        accessKeyId: ${secret}`,
    `        secretAccessKey: ${secret}`,
    'master: { host: 127.0.0.1, port: 0, seedFile: ./master/seed.json }',
    'worker: { cacheDir: ./workers, heartbeatMs: 200 }',
    '',
  ].join('\n');
}

async function api(path: string): Promise<string> {
  const res = await fetch(`http://${addr}${path}`, { headers: { authorization: `Bearer ${credentials.token}` } });
  return res.text();
}

function filesUnder(d: string): string[] {
  return readdirSync(d, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  // The shim enforces conditional writes, as the S3 backend requires of a shared store.
  s3 = await startS3rver({ shim: true });
  dir = mkdtempSync(join(tmpdir(), 'sluice-secrets-'));
  writeFileSync(join(dir, 'cluster.yaml'), s3Yaml(s3.endpoint, s3.secretAccessKey));
  // The same credentials on a dead endpoint: errors must not echo them either.
  writeFileSync(join(dir, 'dead.yaml'), s3Yaml('http://127.0.0.1:9', s3.secretAccessKey));
  local = Proc.start(['local', '-c', 'cluster.yaml', '--workers', '1'], { cwd: dir, env: { SLUICE_LOG_LEVEL: 'debug', SLUICE_LOG_FILE: join(dir, 'cluster.log') } });
  addr = (await local.line(/master on (\S+),/, 30_000))[1]!;
  useLocalAdminToken(dir);
}, 60_000);

afterAll(async () => {
  await local?.stop();
  await s3?.stop();
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

describe('secrets never leak', () => {
  it('a full run on S3: no log file, CLI output or API response contains the S3 credential', async () => {
    const secret = s3.secretAccessKey;
    expect(secret.length).toBeGreaterThanOrEqual(6);
    const input = join(dir, 'words.txt');
    writeWords(input, 500);
    const sub = await cli(['submit', WORD_COUNT, '--master', addr, '--json', '--config', `input=${input}`, '--config', `output=${join(dir, 'out')}`, '--config', 'executors=1'], dir);
    outputs.push(['submit', sub.stdout + sub.stderr]);
    expect(sub.code, sub.stderr).toBe(0);
    const appId = (JSON.parse(sub.stdout) as { appId: string }).appId;
    await waitFor('the app to end', 90_000, async () => {
      const a = JSON.parse(await api(`/apps/${appId}`)) as { status: string };
      return ['running', 'pending'].includes(a.status) ? undefined : a;
    });
    for (const args of [
      ['storage', 'plan', '-c', 'cluster.yaml'],
      ['storage', 'plan', '-c', 'cluster.yaml', '--json'],
      ['apps', '--master', addr, '--json'],
      ['status', appId, '--master', addr, '--json'],
      ['status', appId, '--master', addr],
      ['logs', appId, '--master', addr, '--since', '1h', '--json'],
      ['metrics', appId, '--master', addr],
      ['apps', '-c', 'dead.yaml'],
      ['logs', appId, '-c', 'dead.yaml', '--master', '127.0.0.1:9'],
      ['storage', 'gc', '-c', 'dead.yaml', '--dry-run'],
    ]) {
      const r = await cli(args, dir);
      outputs.push([args.join(' '), r.stdout + r.stderr]);
    }
    for (const path of ['/health', '/apps', `/apps/${appId}`, `/apps/${appId}/acl`, '/workers', '/metrics', `/apps/${appId}/logs?since=1h`, `/apps/${appId}/metrics`, '/ui/api/cluster', `/ui/api/apps/${appId}`]) {
      outputs.push([`GET ${path}`, await api(path)]);
    }
    const leaks: string[] = [];
    for (const [what, text] of outputs) if (text.includes(secret)) leaks.push(what);
    // Every file the run wrote (logs, spools, seeds, caches) but the config itself.
    const files = filesUnder(dir).filter((f) => !f.endsWith('.yaml') && statSync(f).size < 64 * 1024 * 1024);
    expect(files.some((f) => f.endsWith('cluster.log'))).toBe(true);
    expect(files.some((f) => /appmaster-e\d+\.log$/.test(f))).toBe(true);
    for (const f of files) if (readFileSync(f).includes(secret)) leaks.push(f);
    expect(leaks).toEqual([]);
  }, 180_000);
});
