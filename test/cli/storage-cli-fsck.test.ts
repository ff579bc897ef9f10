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

  it('says which retained checkpoints are self-contained and which parts each needs (text and --json)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-fsck-cp-'));
    try {
      await writeFile(join(dir, 'cluster.yaml'), 'storage:\n  default:\n    module: "@sluice/storage-fs"\n    options: { root: ./store }\n');
      const s = await openStorage(fsModule, { root: join(dir, 'store') });
      const app = await s.createAppStorage('inc', 'inc', { owner: 'alice' });
      const w = await app.checkpoints('tasks').writer(1);
      // t=1 full; t=2 adds a segment and shares t=1's; t=3 stands alone (a fresh full state).
      const base = await w.stage(1, 'seg1', new Uint8Array(4096));
      await w.commit(1, [base]);
      const delta = await w.stage(2, 'seg2', new Uint8Array(1024));
      await w.commit(2, [base, delta]);
      const full = await w.stage(3, 'full3', new Uint8Array(2048));
      await w.commit(3, [full]);
      await s.close();

      const text = await sluice(['storage', 'fsck', '-c', 'cluster.yaml', '--parts'], dir);
      expect(text.code).toBe(0);
      const rows = text.stdout.split('\n').map((l) => l.trim().split(/\s{2,}/));
      expect(rows[0]).toEqual(['APP', 'STORE', 'T', 'PARTS', 'NEW', 'SHARED', 'SELF-CONTAINED', 'SHARES WITH']);
      const byT = (t: string): string[] | undefined => rows.find((r) => r[0] === 'inc' && r[2] === t);
      expect(byT('1')).toEqual(['inc', 'tasks', '1', '1', '4KiB', '0KiB', 'no', '2']);
      expect(byT('2')).toEqual(['inc', 'tasks', '2', '2', '1KiB', '4KiB', 'no', '1']);
      expect(byT('3')).toEqual(['inc', 'tasks', '3', '1', '2KiB', '0KiB', 'yes', '-']);
      expect(text.stdout).toMatch(/^\s+seg2\s+1KiB\s+\S+/m);

      const json = JSON.parse((await sluice(['storage', 'fsck', '-c', 'cluster.yaml', '--json'], dir)).stdout) as { checkpoints: Array<{ t: number; parts: Array<{ name: string }>; newBytes: number; sharedBytes: number; selfContained: boolean }> };
      expect(json.checkpoints.map((c) => [c.t, c.parts.map((p) => p.name).sort().join('+'), c.newBytes, c.sharedBytes, c.selfContained])).toEqual([
        [1, 'seg1', 4096, 0, false], [2, 'seg1+seg2', 1024, 4096, false], [3, 'full3', 2048, 0, true],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
