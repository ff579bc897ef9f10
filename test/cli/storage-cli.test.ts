import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'packages/engine/dist/cli/main.js');

function sluice(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [cli, ...args], { cwd, timeout: 240_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('sluice storage', () => {
  it('conformance --module runs the whole suite against the one-file example module and passes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
    try {
      const r = await sluice(['storage', 'conformance', '--module', join(root, 'examples/custom-storage/json-dir-store.mjs'), '--options', JSON.stringify({ dir: join(dir, 'store') }), '--json'], dir);
      expect(r.stderr).toBe('');
      const report = JSON.parse(r.stdout) as { passed: number; failed: number; skipped: number; results: Array<{ status: string; reason?: string }> };
      expect(report.failed).toBe(0);
      expect(report.passed).toBeGreaterThan(40);
      // Skips come only from declared capabilities, and say which.
      for (const s of report.results.filter((x) => x.status === 'skipped')) expect(s.reason).toMatch(/does not declare/);
      expect(r.code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('conformance -c on the embedded fs default passes every case, corruption and cross-process cases included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
    try {
      await writeFile(join(dir, 'cluster.yaml'), 'storage:\n  default:\n    module: "@sluice/storage-fs"\n    options: { root: ./store }\n');
      const r = await sluice(['storage', 'conformance', '-c', 'cluster.yaml', '--json'], dir);
      expect(r.stderr).toBe('');
      const report = JSON.parse(r.stdout) as { passed: number; failed: number; skipped: number; leftOut: number; results: Array<{ name: string; status: string; error?: { message: string } }> };
      expect(report.results.filter((x) => x.status !== 'passed')).toEqual([]);
      expect(report.skipped).toBe(0);
      expect(report.leftOut).toBe(0);
      expect(report.results.map((x) => x.name)).toEqual(expect.arrayContaining([
        'a corrupt part is STORAGE_CORRUPT on read',
        'data outlives the instance: another process, opened after this one closed, sees apps, meta and data',
      ]));
      expect(r.code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('conformance summary says what --grep left out and what each capability that skipped cases means', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
    try {
      const r = await sluice(['storage', 'conformance', '--module', 'memory', '--grep', 'two processes'], dir);
      expect(r.stdout).toMatch(/0 passed, 0 failed, 1 skipped, \d+ left out by --grep/);
      expect(r.stdout).toMatch(/multiProcess \(1 case\): several processes read and write one app store/);
      expect(r.code).toBe(1); // nothing passed: a run that proves nothing is not a pass
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('conformance exits 1 when a backend breaks the contract', async () => {
    // Inside the repo so the module resolves @sluice/storage-api like a user's project would.
    const dir = await mkdtemp(join(root, 'test', '.tmp-cli-'));
    try {
      // The memory backend with fencing broken: its openEpoch hook skips the policy's
      // decision, so a lower epoch opens a writer after a higher one did.
      await writeFile(
        join(dir, 'broken.mjs'),
        `import memory from '@sluice/storage-api/memory';
const proxied = (obj, wrap) => new Proxy(obj, { get: (t, p) => { const v = Reflect.get(t, p); return typeof v === 'function' ? wrap(p, v.bind(t)) : v; } });
const store = (st) => proxied(st, (p, f) => (p === 'openEpoch' ? (e, _decide, o) => f(e, () => {}, o) : f));
const app = (a) => a && proxied(a, (p, f) => (p === 'offsets' ? (n) => store(f(n)) : f));
export default { ...memory, name: 'broken', async create(o, c) {
  const s = await memory.create(o, c);
  return proxied(s, (p, f) => (p === 'getAppStorage' || p === 'createAppStorage' ? async (...x) => app(await f(...x)) : f));
} };\n`,
      );
      const r = await sluice(['storage', 'conformance', '--module', './broken.mjs', '--grep', 'offsets ›'], dir);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/✗ offsets › epoch fencing/);
      expect(r.stdout).toMatch(/✓ offsets › get, floor, lookUp/);
      expect(r.code).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('plan prints the effective routing; invalid config names the key path and exits 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
    try {
      await writeFile(join(dir, 'ok.yaml'), 'storage:\n  default:\n    module: memory\n  routes:\n    checkpoints:\n      module: "@sluice/storage-s3"\n      options: { bucket: b, credentials: { accessKeyId: k, secretAccessKey: s } }\n');
      const ok = await sluice(['storage', 'plan', '-c', 'ok.yaml', '--json'], dir);
      expect(ok.code).toBe(0);
      const plan = JSON.parse(ok.stdout) as { routes: Array<{ subStore: string; module: string; options: Record<string, unknown> }> };
      expect(plan.routes.find((r) => r.subStore === 'checkpoints')?.module).toBe('@sluice/storage-s3');
      expect(plan.routes.find((r) => r.subStore === 'jars')?.module).toBe('memory');
      expect(JSON.stringify(plan)).not.toContain('"s"'); // secrets redacted
      await writeFile(join(dir, 'bad.yaml'), 'storage:\n  default:\n    modul: memory\n  routes:\n    jars: { module: 3 }\n');
      const bad = await sluice(['storage', 'plan', '-c', 'bad.yaml'], dir);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('storage.routes.jars.module');
      expect(bad.stderr).toContain('storage.default');
      const missing = await sluice(['storage', 'plan', '-c', 'nope.yaml'], dir);
      expect(missing.code).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
