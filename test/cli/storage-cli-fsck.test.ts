import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openStorage } from '@sluice/storage-api';
import fsModule from '@sluice/storage-fs';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'packages/engine/dist/cli/main.js');

function sluice(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [cli, ...args], { cwd, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

interface Report { apps: number; damage: number; orphans: number; repaired: number; findings: Array<{ appId: string; subStore: string; target: string; kind: string; repaired?: boolean }> }

describe('sluice storage fsck (fs)', () => {
  it('exit 0 on a clean store; damage and orphans exit 1; --repair removes orphans only; --app narrows', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-fsck-'));
    try {
      await writeFile(join(dir, 'cluster.yaml'), 'storage:\n  default:\n    module: "@sluice/storage-fs"\n    options: { root: ./store }\n');
      const s = await openStorage(fsModule, { root: join(dir, 'store') });
      const good = await s.createAppStorage('good', 'good', { owner: 'alice' });
      await good.jars.put('app.js', new Uint8Array(Buffer.from('good jar')));
      await (await good.checkpoints('state').writer(1)).append(1, new Uint8Array([1]));
      const bad = await s.createAppStorage('bad', 'bad', { owner: 'alice' });
      await bad.jars.put('app.js', new Uint8Array(Buffer.from('bad jar')));
      const w = await bad.checkpoints('state').writer(1);
      await w.stage(1, 'lost', new Uint8Array([9]));
      await w.append(2, new Uint8Array([2]));
      await writeFile(join(dir, 'store', 'apps', 'bad', 'blobs', 'f'.repeat(64)), 'stray blob');

      const clean = await sluice(['storage', 'fsck', '-c', 'cluster.yaml', '--app', 'good', '--json'], dir);
      expect(clean.stderr).toBe('');
      expect(JSON.parse(clean.stdout)).toMatchObject({ apps: 1, damage: 0, orphans: 0 });
      expect(clean.code).toBe(0);

      await fsModule.testHooks!.corrupt(s, { appId: 'bad', jar: 'app.js' });
      const found = await sluice(['storage', 'fsck', '-c', 'cluster.yaml', '--json'], dir);
      const r = JSON.parse(found.stdout) as Report;
      expect(r.apps).toBe(2);
      expect(r.findings.map((f) => `${f.appId} ${f.kind} ${f.subStore}`).sort()).toEqual(['bad damage jars', 'bad orphan checkpoints', 'bad orphan jars']);
      expect(found.code).toBe(1);

      const repaired = await sluice(['storage', 'fsck', '-c', 'cluster.yaml', '--repair'], dir);
      expect(repaired.stdout).toMatch(/2 app\(s\) checked: 1 damaged, 2 orphan\(s\), 2 removed/);
      expect(repaired.code).toBe(1); // the corrupt jar stays: repair never removes committed data
      expect(await readdir(join(dir, 'store', 'apps', 'bad', 'blobs'))).not.toContain('f'.repeat(64));
      const after = JSON.parse((await sluice(['storage', 'fsck', '-c', 'cluster.yaml', '--json'], dir)).stdout) as Report;
      expect(after.findings.map((f) => `${f.kind} ${f.subStore} ${f.target}`)).toEqual(['damage jars app.js']);
      expect(Buffer.from(await bad.checkpoints('state').readPart(2, 'state'))).toEqual(Buffer.from([2]));
      await s.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
