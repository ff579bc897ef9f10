import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'packages/engine/dist/cli/main.js');
const fixtures = join(root, 'packages/storage-api/test/contract-v1');

function sluice(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [cli, ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('sluice storage and the contract version', () => {
  it('refuses a module declaring contractVersion 1 with exit 2 (STORAGE_MODULE_INVALID), naming the versions and missing hooks', async () => {
    const r = await sluice(['storage', 'conformance', '--module', join(fixtures, 'v1-module.mjs')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('STORAGE_MODULE_INVALID');
    expect(r.stderr).toContain('declares contractVersion 1, but this storage-api implements contractVersion 2');
    expect(r.stderr).toMatch(/offsets: ceiling, openEpoch, append, truncate; config: put, remove/);
    expect(r.stdout).not.toContain('conformance:'); // refused before any case ran
  }, 90_000);

  it('refuses a module declaring a newer contract with exit 2', async () => {
    const r = await sluice(['storage', 'conformance', '--module', join(fixtures, 'v3-module.mjs')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('contractVersion 3, newer than this storage-api implements');
  }, 90_000);
});
