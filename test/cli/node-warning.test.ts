// The AWS SDK prints an eight-line "NodeVersionSupportWarning" from every process that
// builds an S3 client on Node < 22. The CLI turns it off (README: supported Node versions).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = resolve(import.meta.dirname, '../../packages/engine/dist/cli/main.js');
const major = Number(process.versions.node.split('.')[0]);

describe('the AWS SDK Node-version warning', () => {
  // Only Node < 22 gets the SDK's warning at all: on newer Node this check could not fail.
  it.runIf(major < 22)('is not printed by a CLI command that opens an S3 store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-s3warn-'));
    try {
      // Port 1: nothing answers, so the command fails fast after building the S3 client.
      await writeFile(join(dir, 's3.yaml'), 'storage:\n  default:\n    module: "@sluice/storage-s3"\n    options: { bucket: bkt, endpoint: "http://127.0.0.1:1", region: us-east-1, forcePathStyle: true, credentials: { accessKeyId: k, secretAccessKey: s } }\n');
      const r = await new Promise<{ code: number; stderr: string }>((res) => {
        const env = { ...process.env };
        delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
        execFile(process.execPath, [CLI, 'apps', '-c', 's3.yaml', '--master', '127.0.0.1:1'], { cwd: dir, env, timeout: 60_000 }, (err, _out, stderr) => {
          res({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stderr });
        });
      });
      expect(r.stderr).toMatch(/STORAGE_UNAVAILABLE/); // it did reach the S3 client
      expect(r.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.code).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
