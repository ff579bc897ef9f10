import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startWebHdfsServer, type WebHdfsServer } from '@sluice/webhdfs-test-server';
import { startS3rver, type S3rverHandle } from '../servers/s3rver.js';

// `sluice storage conformance -c <yaml>` against live endpoints, exactly as an operator
// runs it: the config names the backend package and its options, nothing else.
const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'packages/engine/dist/cli/main.js');

interface Report {
  passed: number;
  failed: number;
  skipped: number;
  facts: Record<string, unknown>;
  results: Array<{ group: string; name: string; status: string; error?: { message: string } }>;
}

function conformance(yamlPath: string, grep: string): Promise<{ code: number; report?: Report; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [cli, 'storage', 'conformance', '-c', yamlPath, '--grep', grep, '--json'], { timeout: 300_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      let report: Report | undefined;
      try {
        report = JSON.parse(stdout) as Report;
      } catch {
        report = undefined;
      }
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, report, stderr });
    });
  });
}

describe('sluice storage conformance -c against live endpoints', () => {
  let dir: string;
  let s3: S3rverHandle;
  let hdfs: WebHdfsServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-cli-live-'));
    [s3, hdfs] = await Promise.all([startS3rver(), startWebHdfsServer()]);
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled([s3?.stop(), hdfs?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  function failures(r?: Report): string[] {
    return (r?.results ?? []).filter((x) => x.status === 'failed').map((x) => `${x.group} › ${x.name}: ${x.error?.message}`);
  }

  it('an S3 endpoint without conditional writes (s3rver, singleWriter): passes, and reports the probe', async () => {
    const yaml = join(dir, 's3.yaml');
    await writeFile(
      yaml,
      `storage:\n  default:\n    module: "@sluice/storage-s3"\n    options:\n      bucket: sluice-cli\n      prefix: conf/\n      endpoint: ${s3.endpoint}\n      region: us-east-1\n      forcePathStyle: true\n      singleWriter: true\n      createBucket: true\n      checksums: WHEN_REQUIRED\n      credentials: { accessKeyId: ${s3.accessKeyId}, secretAccessKey: ${s3.secretAccessKey} }\n`,
    );
    const r = await conformance(yaml, 'checkpoints ›');
    expect(failures(r.report)).toEqual([]);
    expect(r.report!.passed).toBeGreaterThan(5);
    // The multi-writer race is skipped because the probe found no conditional writes.
    expect(r.report!.results.find((x) => x.name.includes('racing'))?.status).toBe('skipped');
    const probe = (r.report!.facts as { probe?: { createOnly?: string } }).probe;
    expect(probe?.createOnly).toBe('ignored');
    expect(r.code).toBe(0);
  }, 300_000);

  it('a WebHDFS endpoint: passes', async () => {
    const yaml = join(dir, 'hdfs.yaml');
    await writeFile(yaml, `storage:\n  default:\n    module: "@sluice/storage-hdfs"\n    options:\n      url: ${hdfs.nnUrl}\n      user: sluice\n      root: /sluice-cli\n`);
    const r = await conformance(yaml, 'offsets ›');
    expect(failures(r.report)).toEqual([]);
    // Every offsets case the suite has ran and passed: none skipped on a full backend.
    const offsets = r.report!.results.filter((x) => x.group === 'offsets');
    expect(offsets.length).toBeGreaterThanOrEqual(8);
    expect(offsets.every((x) => x.status === 'passed')).toBe(true);
    expect(r.report!.passed).toBe(offsets.length);
    expect(r.code).toBe(0);
  }, 300_000);
});
